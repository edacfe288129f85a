"""The one small interface every fault implements, and what a fault may use to act.

A fault is a class in its own file under ``faults/``, registered with :func:`register`:

    @register
    class Latency(Fault[LatencyParams]):
        kind = "latency"
        fault_type = FaultType.LATENCY
        params_model = LatencyParams

        async def apply(self) -> None: ...
        async def revert(self) -> None: ...

``prepare`` (optional) runs right before the lease is written, for what must be decided at
injection time (a target chosen by a ``select:`` selector); ``apply`` calls it too, so a
caller that does not is still served. ``choice`` then names what was chosen, for reports.

``apply`` and ``revert`` are async and idempotent: reverting twice, or reverting a fault
that was never applied, is harmless. ``revert_actions`` describes the same revert as data
for the watchdog (see ``safety.actions``); the engine writes it to the lease file before
``apply`` and again after it. ``preflight`` runs before the suite starts and refuses what
the suite may not touch, so nothing is half-applied.

Exceptions::

    FaultError (WorkbenchError) a fault could not be applied or reverted (reason in the message)
    └── FaultRefused           the suite does not allow the target (blast radius, floors)
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from chaos_workbench.errors import WorkbenchError
from chaos_workbench.host.spawn import LaunchSpec
from chaos_workbench.host.units import Seconds
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction

__all__ = [
    "Fault",
    "FaultContext",
    "FaultError",
    "FaultParams",
    "FaultRefused",
    "FaultUnsupported",
    "ProcessControl",
    "ProxyControl",
    "Reference",
]


class FaultError(WorkbenchError):
    """A fault could not be applied or reverted; the message says why."""


class FaultRefused(FaultError):
    """The suite does not allow what the fault would touch (blast radius or a safety floor)."""


class FaultUnsupported(FaultError):
    """This machine cannot inject the fault as asked: a capability is missing (creating a
    memory cgroup needs root, a controller is not mounted). Nothing was injected, so the
    experiment is inconclusive, not failed: the system under test is not to blame."""


class Reference(BaseModel):
    """A name a fault's parameters point at, checked against the suite when it is loaded.

    ``field`` is the path under the fault, dotted (``select.among.1``: indexes as numbers).
    A ``host`` reference is a host the fault contacts (a selector's URL): it must be on
    loopback unless the suite's ``blast_radius.hosts`` lists it.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["proxy", "process", "host"]
    field: str
    name: str

    @property
    def loc(self) -> tuple[str | int, ...]:
        """``select.among.1`` → ``("select", "among", 1)``."""
        return tuple(int(p) if p.isdigit() else p for p in self.field.split("."))


class FaultParams(BaseModel):
    """Parameters of a fault, as written in a suite file. Subclasses add their own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    duration_s: Seconds | None = Field(
        default=None, description="How long the fault is held; the suite default if unset."
    )

    def references(self) -> Sequence[Reference]:
        """Proxies and processes this fault names (validated against the suite)."""
        return ()


class ProxyControl(Protocol):
    """A Toxiproxy-compatible control API (our ``cwb proxy`` or a real Toxiproxy)."""

    @property
    def api_url(self) -> str: ...

    async def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
        ttl_ms: float | None = None,
    ) -> None:
        """Add a toxic; ``ttl_ms`` asks the server to remove it by itself after that long
        (a real Toxiproxy ignores it), so a toxic set by a crashed run expires."""
        ...

    async def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; removing one that is not there is not an error."""
        ...

    async def set_enabled(self, proxy: str, enabled: bool) -> None: ...


class ProcessControl(Protocol):
    """The supervisor of the processes a suite declares."""

    def pid(self, name: str) -> int | None:
        """The running pid of a declared process, or None when it is not running."""
        ...

    async def start(self, name: str) -> None:
        """Start (or restart) a declared process and wait until it is ready."""
        ...

    def launch_spec(self, name: str) -> LaunchSpec:
        """How the watchdog starts this process again (see ``StartProcess.of``)."""
        ...


@dataclass(frozen=True)
class FaultContext:
    """Everything a fault may use. Built by the engine once per run."""

    run_dir: Path
    rng: random.Random
    proxies: ProxyControl | None = None
    processes: ProcessControl | None = None
    allowed_paths: tuple[Path, ...] = ()
    extras: Mapping[str, object] = field(default_factory=dict)
    # Blast radius for process targets given by pid, pid file or pattern: regular
    # expressions searched in the target's command line (supervised processes are always
    # allowed). ``protected_pids`` are never touched (the watchdog, the engine's helpers).
    allowed_process_patterns: tuple[str, ...] = ()
    protected_pids: tuple[int, ...] = ()

    def require_proxies(self) -> ProxyControl:
        if self.proxies is None:
            raise FaultError("this fault needs a fault proxy, and the suite defines none")
        return self.proxies

    def require_processes(self) -> ProcessControl:
        if self.processes is None:
            raise FaultError("this fault needs supervised processes, and the suite defines none")
        return self.processes


P = TypeVar("P", bound=FaultParams)


class Fault(ABC, Generic[P]):
    """One fault kind. Subclasses set the three class attributes and implement apply/revert."""

    kind: ClassVar[str]
    fault_type: ClassVar[FaultType]
    params_model: ClassVar[type[FaultParams]]
    choice: str | None = None  # what prepare() chose at injection time (a process name)

    def __init__(self, params: P, ctx: FaultContext) -> None:
        self.params = params
        self.ctx = ctx

    @property
    def reported_type(self) -> FaultType:
        """The category this fault's result reports: the class's, unless it decides per
        instance (a Chaos Mesh fault is latency, an outage or a pod kill by its params)."""
        return self.fault_type

    def preflight(self) -> None:
        """Refuse (raise :class:`FaultRefused`) before the run if the target is not allowed."""

    async def prepare(self) -> None:
        """Decide what is decided at injection time (a selected target), before the lease.

        Idempotent (decides once per fault instance); ``apply`` calls it as well. Raise
        :class:`FaultError` when nothing can be chosen: then nothing is injected.
        """

    @abstractmethod
    async def apply(self) -> None:
        """Inject the fault. Raise :class:`FaultError` with a clear reason if it cannot be."""

    @abstractmethod
    async def revert(self) -> None:
        """Undo the fault. Idempotent; safe to call when ``apply`` failed or never ran."""

    def revert_actions(self) -> Sequence[RevertAction]:
        """How an outside process undoes this fault now (written to the lease file)."""
        return ()

    def describe(self) -> str:
        """One line for reports, e.g. ``latency 500 ms on db``."""
        fields = self.params.model_dump(exclude={"type", "duration_s"}, exclude_none=True)
        args = ", ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.kind}({args})"
