"""The safety net: leases, a watchdog process and cleanup, so no fault outlives its run.

The names below are loaded on first use (PEP 562), so that importing the data models alone
(``chaos_workbench.safety.actions``, which every fault imports) does not load the net,
the watchdog's cleanup and the executor with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos_workbench.safety.cleanup import CleanupReport, clean_orphans, revert_run
    from chaos_workbench.safety.executor import Outcome, execute, execute_all, execute_async
    from chaos_workbench.safety.net import Lease, SafetyError, SafetyNet

__all__ = [
    "CleanupReport",
    "Lease",
    "Outcome",
    "SafetyError",
    "SafetyNet",
    "clean_orphans",
    "execute",
    "execute_all",
    "execute_async",
    "revert_run",
]

_HOME = {
    "CleanupReport": "cleanup",
    "clean_orphans": "cleanup",
    "revert_run": "cleanup",
    "Outcome": "executor",
    "execute": "executor",
    "execute_all": "executor",
    "execute_async": "executor",
    "Lease": "net",
    "SafetyError": "net",
    "SafetyNet": "net",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
