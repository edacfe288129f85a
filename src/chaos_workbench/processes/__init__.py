"""Process supervision: start the suite's processes, know their pids, stop and restart them."""

from __future__ import annotations

from chaos_workbench.processes.supervisor import (
    ProcessNotReady,
    Supervisor,
    SupervisorError,
    UnknownProcess,
)

__all__ = ["ProcessNotReady", "Supervisor", "SupervisorError", "UnknownProcess"]
