"""The engine: the experiment lifecycle, the suite runner, and the run-and-report entry point.

:func:`run_suite` is what ``cwb run`` and ``cwb demo`` call: load the suite, run it with
signal handling, print progress and the scorecard, write the reports and the history.

Exceptions (see ``engine.errors``)::

    RunError (WorkbenchError)
    ├── RunAborted        the run could not start (nothing was injected); ``exit_code`` says how
    └── RunInterrupted    SIGINT/SIGTERM stopped the run after reverting; ``outcome`` is partial
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos_workbench.engine.entry import run_suite
    from chaos_workbench.engine.errors import RunAborted, RunError, RunInterrupted
    from chaos_workbench.engine.runner import RunOptions
    from chaos_workbench.engine.session import RunOutcome

__all__ = ["RunAborted", "RunError", "RunInterrupted", "RunOptions", "RunOutcome", "run_suite"]

# Loaded on first use (PEP 562): ``engine.errors`` alone must not pull in the runner and
# scipy, or every ``cwb`` command (``cwb validate`` too) would start a second slower.
_HOME = {
    "run_suite": "entry",
    "RunAborted": "errors",
    "RunError": "errors",
    "RunInterrupted": "errors",
    "RunOptions": "runner",
    "RunOutcome": "session",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
