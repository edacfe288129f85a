"""The entry point: ``run_chaostoolkit(path, ...)``, what ``cwb run experiment.json`` calls."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from pydantic import JsonValue

from chaos_workbench.chaostoolkit.journal import write_journal
from chaos_workbench.chaostoolkit.loader import load_experiment
from chaos_workbench.chaostoolkit.runner import (
    HYPOTHESIS_STRATEGIES,
    ROLLBACK_STRATEGIES,
    Run,
    RunOptions,
)
from chaos_workbench.experiments.errors import SuiteError

__all__ = ["run_chaostoolkit"]


def run_chaostoolkit(
    path: Path,
    *,
    journal_path: Path = Path("journal.json"),
    rollback_strategy: str | None = None,
    hypothesis_strategy: str | None = None,
    hypothesis_frequency_s: float = 1.0,
    fail_fast: bool = False,
    fail_on_method_tolerance: bool = False,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the experiment at ``path``; the exit code: 0 completed and not deviated, 1
    otherwise, 2 the file is not a valid experiment (every problem printed to ``err``).

    ``rollback_strategy`` and ``hypothesis_strategy`` default to the experiment's
    ``runtime`` section (as ``chaos run``), else to ours: rollbacks on every ending, and
    the hypothesis before and after the method.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    env = dict(os.environ if env is None else env)
    try:
        loaded = load_experiment(Path(path), env)
    except SuiteError as exc:
        print(str(exc), file=err)
        return 2
    runtime = _runtime(loaded.raw)
    strategy = rollback_strategy or runtime.get("rollbacks") or "always-on-every-ending"
    hypothesis_strategy = hypothesis_strategy or runtime.get("hypothesis") or "default"
    bad = []
    if strategy not in ROLLBACK_STRATEGIES:
        bad.append(f"unknown rollback strategy {strategy!r} (default, always, never, deviated)")
    if hypothesis_strategy not in HYPOTHESIS_STRATEGIES:
        bad.append(f"unknown hypothesis strategy {hypothesis_strategy!r}")
    if bad:
        print("\n".join(f"{path}: {line}" for line in bad), file=err)
        return 2
    options = RunOptions(
        hypothesis_strategy=hypothesis_strategy,
        hypothesis_frequency_s=hypothesis_frequency_s,
        fail_fast=fail_fast,
        fail_on_method_tolerance=fail_on_method_tolerance,
        rollback_strategy=strategy,  # type: ignore[arg-type]  # checked above
    )
    journal = Run(loaded, options, env, out, Path(journal_path).parent).execute()
    write_journal(Path(journal_path), journal)
    print(f"[chaostoolkit] journal written to {journal_path}", file=out)
    return 0 if journal.status == "completed" and not journal.deviated else 1


def _runtime(raw: Mapping[str, JsonValue]) -> dict[str, str]:
    """``runtime: {rollbacks: {strategy}, hypothesis: {strategy}}`` of the experiment."""
    found: dict[str, str] = {}
    runtime = raw.get("runtime")
    if isinstance(runtime, dict):
        for key in ("rollbacks", "hypothesis"):
            section = runtime.get(key)
            if isinstance(section, dict) and isinstance(section.get("strategy"), str):
                found[key] = str(section["strategy"])
    return found
