"""Sans-IO HTTP/1.1 message framing that keeps every byte where it was.

The HTTP toxics must forward unmatched messages byte-exact, swallow a request (head and
body), hold a request back, or cut a response after N bytes. That needs to know where each
message starts and ends *in the byte stream*, which ``httptools`` callbacks do not say. So
this module finds the boundaries itself (head = up to the first blank line; body framed by
``Transfer-Encoding: chunked``, ``Content-Length``, or the response rules of RFC 9112 §6.3)
and leaves parsing and validating each head to ``_parsing`` (llhttp, via ``httptools``). Bodies are never
decoded: the framer hands out the raw wire bytes, chunk-size lines included.

A framer that meets something that is not HTTP/1.x (or that it cannot frame safely) turns
*opaque*: it hands back everything it buffered and everything after it as ``Opaque`` bytes,
untouched. The connection is then a plain TCP relay.

Events, in stream order, per message: one ``Head``, zero or more ``Body``, one ``End``.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

from chaos_workbench.proxy.http._parsing import (
    Framing,
    RequestHead,
    ResponseHead,
    parse_request_head,
    parse_response_head,
)

__all__ = [
    "END",
    "Body",
    "End",
    "Event",
    "Framing",
    "Head",
    "Opaque",
    "RequestFramer",
    "RequestHead",
    "ResponseFramer",
    "ResponseHead",
]

# 64 KiB: larger than any real-world head (nginx's default large_client_header_buffers is
# 4 × 8 KiB), small enough that a non-HTTP stream is recognised before we buffer much.
MAX_HEAD_BYTES: Final = 65_536
# A chunk-size line is hex digits plus optional extensions; 4 KiB is generous.
MAX_CHUNK_LINE_BYTES: Final = 4_096

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
# What a request line may look like while it is still arriving (a prefix of "METHOD SP").
_REQUEST_PREFIX = re.compile(rb"\A" + _TCHAR + rb"{1,32}(?: |\Z)")
# HTTP/1.x only: "PRI * HTTP/2.0" (the h2c preface) and anything else is not ours to frame.
_REQUEST_LINE = re.compile(rb"\A" + _TCHAR + rb"+ [^ \r\n]+ HTTP/1\.\d\r\n")
_RESPONSE_LINE = re.compile(rb"\AHTTP/1\.\d \d{3}(?: [^\r\n]*)?\r\n")
_RESPONSE_START = b"HTTP/"


@dataclass(frozen=True, slots=True)
class Head:
    head: RequestHead | ResponseHead


@dataclass(frozen=True, slots=True)
class Body:
    data: bytes


@dataclass(frozen=True, slots=True)
class End:
    """The message that began with the last ``Head`` is complete."""


@dataclass(frozen=True, slots=True)
class Opaque:
    """Bytes that are not (or no longer) framed as HTTP; forward them untouched."""

    data: bytes


END: Final = End()
Event = Head | Body | End | Opaque
_H = TypeVar("_H", RequestHead, ResponseHead)


class _State(enum.Enum):
    HEAD = 0
    LENGTH = 1
    CHUNK_SIZE = 2
    CHUNK_DATA = 3
    CHUNK_CRLF = 4
    TRAILER = 5
    UNTIL_CLOSE = 6
    OPAQUE = 7


class _Framer(ABC):
    """Shared body framing; subclasses recognise and parse heads."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = _State.HEAD
        self._remaining = 0  # bytes left in a Content-Length body or the current chunk

    @property
    def opaque(self) -> bool:
        return self._state is _State.OPAQUE

    @property
    def idle(self) -> bool:
        """Between messages with nothing buffered (a message boundary on the wire)."""
        return self._state is _State.HEAD and not self._buf

    def go_opaque(self) -> bytes:
        """Stop framing; return what was buffered (the caller forwards it untouched)."""
        self._state = _State.OPAQUE
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def take_buffered(self) -> bytes:
        """Bytes held but not yet framed (at end of input they will never complete)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def feed(self, data: bytes) -> Iterator[Event]:
        """The events ``data`` completes, produced lazily.

        Lazily on purpose: the consumer handles each event before the next head is parsed,
        because how a response is framed depends on which request it answers, and that is
        known only once the previous response's ``End`` has been handled (pipelining).
        """
        st = self._state
        if st is _State.OPAQUE:
            if data:
                yield Opaque(data)
            return
        if not self._buf and data:
            # Fast path for bulk bodies: a chunk wholly inside the body is passed on as the
            # same bytes object, without copying it through the buffer.
            if st is _State.UNTIL_CLOSE:
                yield Body(data)
                return
            if (st is _State.LENGTH or st is _State.CHUNK_DATA) and len(data) < self._remaining:
                self._remaining -= len(data)
                yield Body(data)
                return
        self._buf += data
        out: list[Event] = []
        # Each pass consumes at least one byte or returns, so this ends; the bound is a guard.
        for _ in range(len(self._buf) + 2):
            if self._state is _State.OPAQUE:  # _step may have switched state
                rest = self.go_opaque()
                if rest:
                    yield Opaque(rest)
                return
            more = self._step(out)
            if out:
                yield from out
                out.clear()
            if not more:
                return
        raise AssertionError("framer made no progress")  # pragma: no cover

    def _start_body(self, framing: Framing, length: int, out: list[Event]) -> None:
        if framing is Framing.NONE:
            out.append(END)
            self._state = _State.HEAD
        elif framing is Framing.LENGTH:
            self._state, self._remaining = _State.LENGTH, length
        elif framing is Framing.CHUNKED:
            self._state = _State.CHUNK_SIZE
        else:
            self._state = _State.UNTIL_CLOSE

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _step(self, out: list[Event]) -> bool:
        """Consume what the current state can; False when more input is needed."""
        return _READERS[self._state](self, out)

    # -- one reader per state (the table ``_READERS`` below) ---------------------------------

    def _read_sized(self, out: list[Event]) -> bool:
        """LENGTH and CHUNK_DATA: pass on up to ``_remaining`` bytes."""
        buf = self._buf
        if not buf:
            return False
        n = min(self._remaining, len(buf))
        out.append(Body(self._take(n)))
        self._remaining -= n
        if self._remaining == 0:
            if self._state is _State.LENGTH:
                out.append(END)
                self._state = _State.HEAD
            else:
                self._state = _State.CHUNK_CRLF
        return True

    def _read_until_close(self, out: list[Event]) -> bool:
        if self._buf:
            out.append(Body(self._take(len(self._buf))))
        return False

    def _read_chunk_crlf(self, out: list[Event]) -> bool:
        """The CRLF after a chunk's data."""
        buf = self._buf
        if len(buf) < 2:
            return False
        if buf[:2] != b"\r\n":
            self._state = _State.OPAQUE
            return True
        out.append(Body(self._take(2)))
        self._state = _State.CHUNK_SIZE
        return True

    def _read_chunk_size(self, out: list[Event]) -> bool:
        """A chunk-size line (hex size, optional extensions); size 0 starts the trailer."""
        buf = self._buf
        i = buf.find(b"\r\n")
        if i < 0:
            return self._too_long(MAX_CHUNK_LINE_BYTES)
        size_text = bytes(buf[:i]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            self._state = _State.OPAQUE
            return True
        out.append(Body(self._take(i + 2)))
        if size == 0:
            self._state = _State.TRAILER
        else:
            self._state, self._remaining = _State.CHUNK_DATA, size
        return True

    def _read_trailer(self, out: list[Event]) -> bool:
        """Trailer lines, up to the blank line that ends the message."""
        i = self._buf.find(b"\r\n")
        if i < 0:
            return self._too_long(MAX_HEAD_BYTES)
        out.append(Body(self._take(i + 2)))
        if i == 0:
            out.append(END)
            self._state = _State.HEAD
        return True

    def _read_head(self, out: list[Event]) -> bool:
        return bool(self._buf) and self._head(out)

    def _read_nothing(self, out: list[Event]) -> bool:
        return False  # pragma: no cover - OPAQUE is handled in feed()

    def _too_long(self, limit: int) -> bool:
        """An unfinished line: past ``limit`` bytes it is not HTTP (go opaque, True)."""
        if len(self._buf) > limit:
            self._state = _State.OPAQUE
            return True
        return False

    # -- heads -------------------------------------------------------------------------------

    def _head_end(self, partial_ok: Callable[[bytearray], bool], line: re.Pattern[bytes]) -> int:
        """Where the head at the start of the buffer ends (past its blank line).

        0: more bytes are needed; -1: this is not HTTP/1.x, and the framer went opaque.
        ``partial_ok`` judges a start line still arriving; ``line`` a whole one.
        """
        buf = self._buf
        if buf.find(b"\r\n") < 0:
            ok = partial_ok(buf) and len(buf) <= MAX_HEAD_BYTES
        elif not line.match(buf):
            ok = False
        else:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                return end + 4
            ok = len(buf) <= MAX_HEAD_BYTES
        if ok:
            return 0
        self._state = _State.OPAQUE
        return -1

    def _take_head(self, end: int, parse: Callable[[bytes], _H]) -> _H | None:
        """Parse and remove the head ``buf[:end]``; None (and opaque) if llhttp refuses it."""
        try:
            head = parse(bytes(self._buf[:end]))
        except ValueError:
            self._state = _State.OPAQUE
            return None
        del self._buf[:end]
        return head

    @abstractmethod
    def _head(self, out: list[Event]) -> bool:
        """Frame one head from the buffer into ``out``; False when more bytes are needed."""


_READERS: Final[dict[_State, Callable[[_Framer, list[Event]], bool]]] = {
    _State.HEAD: _Framer._read_head,
    _State.LENGTH: _Framer._read_sized,
    _State.CHUNK_DATA: _Framer._read_sized,
    _State.UNTIL_CLOSE: _Framer._read_until_close,
    _State.CHUNK_CRLF: _Framer._read_chunk_crlf,
    _State.CHUNK_SIZE: _Framer._read_chunk_size,
    _State.TRAILER: _Framer._read_trailer,
    _State.OPAQUE: _Framer._read_nothing,
}
"""What each state reads next (h11's one-reader-per-state framing)."""


def _request_line_so_far(buf: bytearray) -> bool:
    return _REQUEST_PREFIX.match(buf) is not None


def _status_line_so_far(buf: bytearray) -> bool:
    n = min(len(buf), len(_RESPONSE_START))
    return buf[:n] == _RESPONSE_START[:n]


class RequestFramer(_Framer):
    """Frames the client-to-upstream byte stream into requests."""

    def _head(self, out: list[Event]) -> bool:
        end = self._head_end(_request_line_so_far, _REQUEST_LINE)
        if end <= 0:
            return end < 0
        head = self._take_head(end, parse_request_head)
        if head is not None:
            out.append(Head(head))
            self._start_body(head.framing, head.content_length, out)
        return True


class ResponseFramer(_Framer):
    """Frames the upstream-to-client byte stream into responses.

    ``request_method`` returns the method of the request the next response answers, or
    None when no request is outstanding (bytes then make the stream opaque: a server that
    talks first is not speaking HTTP/1.1).
    """

    def __init__(self, request_method: Callable[[], str | None]) -> None:
        super().__init__()
        self._request_method = request_method
        self.upgraded = False  # a 101, or a 2xx to CONNECT: the rest is a tunnel

    def _head(self, out: list[Event]) -> bool:
        method = self._request_method()
        if method is None:
            self._state = _State.OPAQUE
            return True
        end = self._head_end(_status_line_so_far, _RESPONSE_LINE)
        if end <= 0:
            return end < 0
        head = self._take_head(end, lambda raw: parse_response_head(raw, method))
        if head is None:
            return True
        out.append(Head(head))
        if head.status == 101 or (method == "CONNECT" and 200 <= head.status < 300):
            out.append(END)
            self.upgraded = True
            self._state = _State.OPAQUE
            return True
        self._start_body(head.framing, head.content_length, out)
        return True
