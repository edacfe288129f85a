"""The toxic interface: what a toxic type is, what it may do to a connection, and the registry.

A toxic has two halves, as in Toxiproxy (``toxics/toxic.go``):

* a :class:`Toxic` subclass — the *type*: its name (``type_name``), its pydantic attribute
  model (``attributes_model``, Toxiproxy's attribute names) and a factory for pipes. One
  instance exists per configured toxic and holds the validated attributes; and
* a :class:`Pipe` — the *per-connection, per-direction* instance that sits in that
  direction's chain and sees the bytes. Pipes are push-based and synchronous: the link calls
  :meth:`Pipe.feed` with each chunk read from the socket (or emitted by the stage before),
  and the pipe passes bytes on with ``self.out.feed(...)`` — now, or later from a timer.

The smallest working toxic (see ``docs/writing-a-toxic.md``)::

    class Shout(ToxicAttributes):
        pass

    @register
    class ShoutToxic(Toxic[Shout]):
        type_name = "shout"
        attributes_model = Shout

        def pipe(self, ctx: PipeContext) -> Pipe:
            return UpperPipe(ctx)

    class UpperPipe(Pipe):
        def feed(self, data: bytes) -> None:
            self.out.feed(data.upper())

The contract a pipe keeps (the link relies on it to lose and reorder nothing):

1. **Order.** Bytes leave a pipe in the order they entered it (a pipe may transform, split,
   delay, or deliberately drop bytes, never reorder them). ``feed_eof`` is passed on only
   after every byte before it.
2. **Flush on removal.** When a toxic is removed (or updated) on a live connection the link
   calls :meth:`Pipe.flush`, which must hand everything the pipe holds to ``self.out``
   *synchronously*, including an EOF it was holding back (Toxiproxy: "don't drop any data
   on the floor"); then
   :meth:`Pipe.dispose`, which cancels its timers. A pipe whose toxic already destroyed the
   stream (``timeout`` drops bytes) may close the connection in ``flush`` instead.
3. **Back-pressure.** A pipe that holds bytes keeps ``held_bytes`` up to date. The link
   pauses reading from the source socket while the chain holds more than its high-water mark
   and resumes when it drains; a pipe never needs to block.
4. **Timers.** Use ``ctx.call_at(due_ns, callback)`` (precise, compensates for early or
   millisecond-granular event-loop timers) and cancel the handle in ``dispose``. Never sleep.
5. **After the connection ends** the link calls ``dispose`` on every pipe; later ``feed``
   calls do not happen, and ``out.feed`` on a closed connection is a harmless no-op.

Optional abilities, each opt-in (as Toxiproxy's ``StatefulToxic`` / ``CleanupToxic``):

* **Per-connection state shared by both directions**: :meth:`Toxic.new_state` returns an
  object made once per connection (kept across updates of the toxic); every pipe of that
  toxic on that connection sees it as ``ctx.state``.
* **Acting on the opposite direction**: :meth:`Toxic.reverse_pipe` returns a second pipe
  that the link places in the *other* direction's chain (ordered by when the toxic was added,
  like every pipe). It shares ``ctx.state``. An HTTP toxic on the upstream stream uses it to
  swallow a request (its forward pipe simply does not pass the bytes on) and to write a
  synthesized response into the downstream direction, in order with the real responses:
  the reverse pipe sees every response byte go by and calls ``self.out.feed(b"HTTP/1.1 503
  ...")`` at the right moment (``self.out`` of a reverse pipe leads to the client).
  The forward pipe may call the reverse pipe's methods directly through the shared state.
* **Ending the connection**: ``ctx.connection.reset()`` aborts both sockets with a TCP RST
  (mid-stream abort), ``ctx.connection.close()`` closes both gracefully now (bytes held by
  pipes are dropped, those in the sockets' buffers delivered). To *end a stream* as
  Toxiproxy's ``limit_data`` does — the toxics after it still deliver what they hold — call
  ``ctx.connection.close_after_eof(ctx.stream)`` and then ``self.out.feed_eof()``.
* **Counting**: call ``ctx.record_action()`` whenever the toxic actually did something
  (delayed a chunk, injected an error); the manager exports these counts as metrics.

Toxicity is decided per connection when the pipe would be created (``toxicity`` 0 never
creates one, 1 always does), with the manager's seeded RNG; a toxic that does not affect a
connection costs it nothing.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from chaos_workbench.proxy.timing import Clock

__all__ = [
    "Connection",
    "Pipe",
    "PipeContext",
    "Stage",
    "Stream",
    "TimedPipe",
    "TimerHandle",
    "Toxic",
    "ToxicAttributes",
    "all_types",
    "get_type",
    "register",
]


class Stream(StrEnum):
    """Which way a toxic acts: ``upstream`` = client → server, ``downstream`` = server → client."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"

    @property
    def opposite(self) -> Stream:
        return Stream.DOWNSTREAM if self is Stream.UPSTREAM else Stream.UPSTREAM


class ToxicAttributes(BaseModel):
    """Base of every toxic's attribute model (Toxiproxy's attribute names, units in docs).

    Unknown keys are ignored and missing ones take their default, as Go's JSON decoder does;
    ``strict`` refuses ``"5"`` or ``5.5`` for an integer, as Go does.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class Stage(Protocol):
    """Where a pipe sends bytes: the next pipe in the chain, or the socket at the end."""

    def feed(self, data: bytes) -> None: ...

    def feed_eof(self) -> None: ...


class TimerHandle(Protocol):
    """A scheduled callback; ``cancel`` is idempotent."""

    def cancel(self) -> None: ...


class Connection(Protocol):
    """What a pipe may do to the connection it sits on."""

    @property
    def id(self) -> int:
        """Unique within the proxy process."""
        ...

    @property
    def client_address(self) -> str:
        """``host:port`` of the client."""
        ...

    def reset(self) -> None:
        """Abort both sockets now with a TCP RST (``SO_LINGER`` 0); data in flight is lost."""
        ...

    def close(self) -> None:
        """Close both sockets gracefully (FIN) once what was written to them has drained."""
        ...

    def close_after_eof(self, stream: Stream) -> None:
        """Close both sockets once ``stream``'s EOF has left its chain (now if it has)."""
        ...


@dataclass(eq=False)
class PipeContext:
    """Everything one pipe may use; built by the link for each pipe."""

    toxic_name: str
    stream: Stream  # the direction this pipe's bytes travel
    connection: Connection
    state: Any  # Toxic.new_state()'s object, shared by this toxic's pipes on this connection
    rng: random.Random
    clock: Clock
    _on_action: Callable[[], None]

    def record_action(self) -> None:
        """Count one act of this toxic (a delayed chunk, an injected error, a reset...)."""
        self._on_action()

    def now_ns(self) -> int:
        """Monotonic time in nanoseconds (``time.monotonic_ns``)."""
        return self.clock.now_ns()

    def call_at(self, due_ns: int, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` at monotonic time ``due_ns`` (not early, typically < 0.3 ms late)."""
        return self.clock.call_at(due_ns, callback)


class Pipe:
    """One toxic acting on one direction of one connection. The default passes bytes on.

    Override :meth:`feed` (and whichever else you need). ``self.out`` is set by the link
    before :meth:`start` and may be re-pointed when toxics before or after this one are
    added or removed; always look it up at the moment you send.
    """

    out: Stage
    held_bytes: int = 0  # bytes this pipe holds now (back-pressure, see the module docstring)

    def __init__(self, ctx: PipeContext) -> None:
        self.ctx = ctx

    def start(self) -> None:
        """Called once when the pipe joins a chain (at connect, or when the toxic is added)."""

    def feed(self, data: bytes) -> None:
        """Bytes arriving from the previous stage (never empty)."""
        self.out.feed(data)

    def feed_eof(self) -> None:
        """The previous stage will send no more bytes (a half-close, FIN)."""
        self.out.feed_eof()

    def flush(self) -> None:
        """The toxic is being removed: hand everything held to ``self.out`` synchronously."""

    def pass_held(self, item: bytes | None) -> None:
        """Hand one held item on: bytes (no longer counted in ``held_bytes``), or the EOF
        a holding pipe keeps behind them as ``None``."""
        if item is None:
            self.out.feed_eof()
        else:
            self.held_bytes -= len(item)
            self.out.feed(item)

    def dispose(self) -> None:
        """Cancel timers and drop references; called once, after ``flush`` or at close."""


class TimedPipe(Pipe):
    """A pipe that acts once at a time of its own (``reset_peer``, ``timeout``, ``slow_close``,
    ``limit_time``): at most one pending timer, cancelled by :meth:`dispose`.

    ``self.timer`` is cleared before the callback runs, so ``self.timer is None`` means
    nothing is pending.
    """

    def __init__(self, ctx: PipeContext) -> None:
        super().__init__(ctx)
        self.timer: TimerHandle | None = None

    def arm_at(self, due_ns: int, callback: Callable[[], None]) -> None:
        """Run ``callback`` at monotonic ``due_ns``, replacing any pending timer."""
        self.cancel_timer()

        def fire() -> None:
            self.timer = None
            callback()

        self.timer = self.ctx.call_at(due_ns, fire)

    def arm_after_ms(self, delay_ms: int, callback: Callable[[], None]) -> None:
        self.arm_at(self.ctx.now_ns() + delay_ms * 1_000_000, callback)

    def cancel_timer(self) -> bool:
        """Cancel the pending timer; True if there was one."""
        if self.timer is None:
            return False
        self.timer.cancel()
        self.timer = None
        return True

    def dispose(self) -> None:
        self.cancel_timer()


class QueuedPipe(Pipe):
    """A pipe that holds items until they are due (``latency``, ``slicer``).

    Items — bytes, or the EOF as ``None`` behind them — leave in order, each at its due
    time (never before the item ahead of it, and at least ``spacing_ns`` after it), released
    by one pending timer; :meth:`flush` hands everything on at once when the toxic is
    removed, :meth:`dispose` cancels the timer.
    """

    spacing_ns: int = 0  # the least time between two items leaving (the slicer's delay)

    def __init__(self, ctx: PipeContext) -> None:
        super().__init__(ctx)
        self.queue: deque[tuple[int, bytes | None]] = deque()  # (due_ns, item)
        self.timer: TimerHandle | None = None
        self.last_due_ns = 0

    def hold(self, due_ns: int, item: bytes) -> None:
        """Queue ``item`` to leave at ``due_ns``, or as soon after as order allows."""
        self.held_bytes += len(item)
        self._enqueue(due_ns, item)

    def feed_eof(self) -> None:
        if not self.queue:
            self.out.feed_eof()
        else:
            self._enqueue(self.ctx.now_ns(), None)

    def _enqueue(self, due_ns: int, item: bytes | None) -> None:
        due_ns = max(due_ns, self.last_due_ns + self.spacing_ns)
        self.last_due_ns = due_ns
        self.queue.append((due_ns, item))
        if self.timer is None:
            if due_ns <= self.ctx.now_ns():
                self._release()
            else:
                self.timer = self.ctx.call_at(due_ns, self._release)

    def _release(self) -> None:
        self.timer = None
        now = self.ctx.now_ns()
        queue = self.queue
        while queue and queue[0][0] <= now:
            self.pass_held(queue.popleft()[1])
        if queue and self.timer is None:
            self.timer = self.ctx.call_at(queue[0][0], self._release)

    def flush(self) -> None:
        queue = self.queue
        while queue:
            self.pass_held(queue.popleft()[1])

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.held_bytes = 0


A = TypeVar("A", bound=ToxicAttributes)


class Toxic(ABC, Generic[A]):
    """A toxic type. Subclasses set ``type_name`` and ``attributes_model`` and build pipes."""

    type_name: ClassVar[str]
    attributes_model: ClassVar[type[ToxicAttributes]]
    # Go's names for this toxic, as Toxiproxy's JSON decode errors print them: its struct
    # (None: the class name; ``reset_peer`` is ``ResetToxic``) and the Go type of its
    # integer attributes (``int64``; the slicer's are ``int``, also 64-bit).
    go_name: ClassVar[str | None] = None
    go_int_type: ClassVar[str] = "int64"

    def __init__(self, attributes: A) -> None:
        self.attributes = attributes

    @classmethod
    def go_struct(cls) -> str:
        """The Go struct Toxiproxy decodes this toxic's attributes into."""
        return cls.go_name or cls.__name__

    @classmethod
    def go_int_fields(cls) -> dict[str, str]:
        """The integer attributes (by JSON name) and their Go type."""
        fields = cls.attributes_model.model_fields
        return {name: cls.go_int_type for name, f in fields.items() if f.annotation is int}

    def new_state(self) -> Any:
        """Per-connection state shared by this toxic's pipes (both directions); None: none."""
        return None

    @abstractmethod
    def pipe(self, ctx: PipeContext) -> Pipe:
        """The pipe for this toxic's own stream on one connection."""

    def reverse_pipe(self, ctx: PipeContext) -> Pipe | None:
        """Optionally, a pipe for the opposite stream of the same connection."""
        return None


_TYPES: dict[str, type[Toxic[Any]]] = {}

T = TypeVar("T", bound=type[Toxic[Any]])


def register(cls: T) -> T:
    """Class decorator: make a toxic type available by its ``type_name``."""
    existing = _TYPES.get(cls.type_name)
    if existing is not None and existing is not cls:
        raise ValueError(f"toxic type {cls.type_name!r} is registered twice: {existing}, {cls}")
    _TYPES[cls.type_name] = cls
    return cls


def get_type(type_name: str) -> type[Toxic[Any]]:
    """The toxic class registered as ``type_name``; ``KeyError`` if there is none."""
    return _TYPES[type_name]


def all_types() -> dict[str, type[Toxic[Any]]]:
    """Every registered toxic type, sorted by name."""
    return dict(sorted(_TYPES.items()))
