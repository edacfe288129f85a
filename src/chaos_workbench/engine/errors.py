"""What can stop a run, as exceptions the CLI turns into exit codes.

Exceptions::

    RunError (WorkbenchError)   a run did not complete
    ├── RunAborted              it could not start (nothing was injected); ``exit_code`` 2 or 1
    │   └── WarmupFailed        no steady state within the warm-up (``engine.warmup``), 1
    └── RunInterrupted          SIGINT/SIGTERM stopped it after reverting; ``outcome`` is partial
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaos_workbench.errors import WorkbenchError

if TYPE_CHECKING:  # session.py imports the runner, which raises these
    from chaos_workbench.engine.session import RunOutcome

__all__ = ["RunAborted", "RunError", "RunInterrupted"]


class RunError(WorkbenchError):
    """A run did not complete."""


class RunAborted(RunError):
    """The run could not start (a refused fault, a process that would not start, ...).

    ``exit_code`` is 2 for a mistake in the suite (a refused target), 1 otherwise.
    """

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RunInterrupted(RunError):
    """SIGINT or SIGTERM stopped the run; every applied fault was reverted first."""

    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        super().__init__(f"run interrupted by {outcome.stopped_by}")
