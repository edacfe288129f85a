"""The safety net: leases, a watchdog process and cleanup, so no fault outlives its run."""

from __future__ import annotations

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
