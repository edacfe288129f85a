"""The fault registry: fault kinds by name, built-in and from third-party entry points.

Built-in faults register themselves when ``chaos_workbench.faults`` is imported. Another
package adds faults by declaring an entry point in the group ``chaos_workbench.faults`` that
points at a module (importing it registers its faults) or at a ``Fault`` subclass.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, TypeVar

from chaos_workbench.faults.base import Fault, FaultParams

__all__ = ["ENTRY_POINT_GROUP", "all_kinds", "get", "load_plugins", "params_model", "register"]

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
