"""The fault registry: fault kinds by name, built-in and from third-party entry points.

Built-in faults register themselves when ``chaos_workbench.faults`` is imported. Another
package adds faults by declaring an entry point in the group ``chaos_workbench.faults`` that
points at a module (importing it registers its faults) or at a ``Fault`` subclass.
"""

from __future__ import annotations

import enum
from importlib.metadata import entry_points
from typing import Any, TypeVar

from chaos_workbench.faults.base import Fault, FaultParams

__all__ = [
    "ENTRY_POINT_GROUP",
    "FaultScope",
    "all_kinds",
    "get",
    "load_plugins",
    "params_model",
    "register",
    "scope_of",
]

ENTRY_POINT_GROUP = "chaos_workbench.faults"

_REGISTRY: dict[str, type[Fault[Any]]] = {}
_plugins_loaded = False

F = TypeVar("F", bound=type[Fault[Any]])


def register(cls: F) -> F:
    """Class decorator: make a fault kind available by its ``kind`` name."""
    existing = _REGISTRY.get(cls.kind)
    if existing is not None and existing is not cls:
        raise ValueError(f"fault kind {cls.kind!r} is registered twice: {existing} and {cls}")
    _REGISTRY[cls.kind] = cls
    return cls


def load_plugins() -> None:
    """Import third-party faults declared as entry points (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, type) and issubclass(obj, Fault):
            register(obj)


def get(kind: str) -> type[Fault[Any]]:
    """The fault class for ``kind``; ``KeyError`` names the known kinds."""
    load_plugins()
    try:
        return _REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown fault type {kind!r} (known: {known})") from None


def params_model(kind: str) -> type[FaultParams]:
    return get(kind).params_model


def all_kinds() -> dict[str, type[Fault[Any]]]:
    """Every registered kind, sorted by name."""
    load_plugins()
    return dict(sorted(_REGISTRY.items()))


class FaultScope(enum.StrEnum):
    """What a fault reaches when several copies of the system run side by side."""

    COPY = "copy"  # one copy's proxies or processes: other copies do not feel it
    HOST = "host"  # something every copy shares (CPU, memory, a filesystem): runs alone


# Why each built-in kind has its scope (read from how each one is implemented):
_COPY_LOCAL = {
    "latency": "a toxic on the copy's own proxy",
    "http_error": "a toxic on the copy's own proxy",
    "toxic": "a toxic on the copy's own proxy",
    "down": "disables the copy's own proxy",
    "process_restart": "restarts one of the copy's supervised processes",
    "clock_skew": "libfaketime in one supervised process's environment, not the host clock",
}
# Process faults are copy-local when aimed at a declared process (the copy's own); a pid,
# pid file or pattern can name any process on the host, another copy's among them.
_TARGETED = {"process_kill", "process_pause"}
# CPU and memory pressure stay inside a copy only when joined to a copy process's cgroup;
# without ``process`` they load the whole host.
_CGROUP_CONFINED = {"cpu_pressure", "memory_pressure"}
# disk_fill and io_stress act on a filesystem, which every copy's data directory shares;
# an unknown (third-party) kind is host-wide unless its class declares ``scope``.


def scope_of(params: Any) -> FaultScope:
    """The scope of the fault ``params`` describe (``type`` names its kind)."""
    kind = str(getattr(params, "type", ""))
    if kind in _COPY_LOCAL:
        return FaultScope.COPY
    if kind in _TARGETED:
        named = getattr(params, "process", None) or getattr(params, "select", None)
        return FaultScope.COPY if named is not None else FaultScope.HOST
    if kind in _CGROUP_CONFINED:
        return FaultScope.COPY if getattr(params, "process", None) else FaultScope.HOST
    declared = getattr(_REGISTRY.get(kind), "scope", None)
    return FaultScope(declared) if declared in tuple(FaultScope) else FaultScope.HOST
