"""Faults: one kind per module, each registering itself on import.

Importing this package imports every module in it, so a new fault file is found without
editing a list. See ``docs/writing-a-fault.md``.
"""

from __future__ import annotations

import importlib
import pkgutil

from chaos_workbench.faults.base import (
    Fault,
    FaultContext,
    FaultError,
    FaultParams,
    FaultRefused,
    FaultUnsupported,
    Reference,
)
from chaos_workbench.faults.registry import all_kinds, get, register

__all__ = [
    "Fault",
    "FaultContext",
    "FaultError",
    "FaultParams",
    "FaultRefused",
    "FaultUnsupported",
    "Reference",
    "all_kinds",
    "get",
    "register",
]

_INFRASTRUCTURE = {"base", "registry"}

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _INFRASTRUCTURE and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
