"""The entry point: ``run_chaostoolkit(path, ...)``, what ``cwb run experiment.json`` calls."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import JsonValue

from chaos_workbench.chaostoolkit.journal import Journal, write_journal
from chaos_workbench.chaostoolkit.loader import LoadedExperiment, load_experiment
from chaos_workbench.chaostoolkit.measure import Measurement, measured_result
from chaos_workbench.chaostoolkit.record import journal_entry, run_record
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
    report_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the experiment at ``path``; the exit code: 0 completed and not deviated, 1
    otherwise, 2 the file is not a valid experiment (every problem printed to ``err``).

    ``rollback_strategy`` and ``hypothesis_strategy`` default to the experiment's
    ``runtime`` section (as ``chaos run``), else to ours: rollbacks on every ending, and
    the hypothesis before and after the method.

    With a ``cwb`` extension in the experiment, the run is also measured (see
    ``chaostoolkit.measure``): our scorecard is printed after Chaos Toolkit's output, our
    JSON report written to ``report_path`` (default ``cwb-report.json`` beside the
    journal) and a ``cwb`` key added to the journal. The exit code stays Chaos Toolkit's.
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
    run = Run(loaded, options, env, out, Path(journal_path).parent)
    if loaded.cwb is None:
        journal = run.execute()
        write_journal(Path(journal_path), journal)
        print(f"[chaostoolkit] journal written to {journal_path}", file=out)
    else:
        report = report_path or Path(journal_path).with_name("cwb-report.json")
        journal = _measured(Path(path), loaded, run, Path(journal_path), report, out)
    return 0 if journal.status == "completed" and not journal.deviated else 1


def _measured(
    path: Path, loaded: LoadedExperiment, run: Run, journal_path: Path, report: Path, out: TextIO
) -> Journal:
    """Run it measured by the cwb extension: the load (or probe) from before the
    hypothesis until the recovery after the rollbacks."""
    from chaos_workbench.reports import ReportFormat, write_report
    from chaos_workbench.reports.terminal import scorecard_text

    spec = loaded.cwb
    assert spec is not None
    seed = spec.seed if spec.seed is not None else secrets.randbelow(2**32)
    started, began = datetime.now(UTC), time.monotonic()
    measurement = Measurement(spec, seed)
    what = spec.traffic.url if spec.traffic is not None else f"a {spec.target()[1]} probe"
    run.say(f"cwb: measuring {what} in {spec.window_ms} ms windows (seed {seed})")
    measurement.start()

    def wait_for_baseline() -> None:
        if not measurement.wait_for_baseline():
            run.say("cwb: the baseline could not be measured before the method")

    run.before_method = wait_for_baseline
    try:
        journal = run.execute()
        if journal.status != "interrupted" and run.marks.method_start_ns is not None:
            run.say(f"cwb: waiting for recovery (at most {spec.recovery_timeout_s:g} s)")
        result = measured_result(measurement, loaded.experiment, journal, run.marks)
    finally:
        measurement.stop()
    record = run_record(result, path, seed, started, time.monotonic() - began)
    try:
        write_report(record, report, ReportFormat.JSON)
        written: Path | None = report
    except OSError as exc:
        run.say(f"cwb: cannot write the report {report}: {exc}")
        written = None
    journal.cwb = journal_entry(record, written)
    write_journal(journal_path, journal)
    print(f"[chaostoolkit] journal written to {journal_path}", file=out)
    print(scorecard_text(record), file=out, end="")
    if written is not None:
        print(f"cwb report written to {written}", file=out)
    return journal


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
