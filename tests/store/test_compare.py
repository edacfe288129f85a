"""Comparing two runs, and the history/compare commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from chaos_workbench.model import ExperimentStatus, FaultResult, ImpactLevel, RunRecord
from chaos_workbench.store import Change, RunStore, compare
from chaos_workbench.store.cli import app

MakeRun = Callable[..., RunRecord]
MakeResult = Callable[..., FaultResult]
S, Lvl = ExperimentStatus, ImpactLevel


def two_runs(make_run: MakeRun, make_result: MakeResult) -> tuple[RunRecord, RunRecord]:
    before = make_run(
        "run-a",
        (
            make_result("regresses", S.PASSED, Lvl.DEGRADED, 800.0),
            make_result("improves", S.FAILED, Lvl.FULL_OUTAGE, 900.0),
            make_result("noise", S.PASSED, Lvl.DEGRADED, 800.0),
            make_result("slower", S.PASSED, Lvl.DEGRADED, 800.0),
            make_result("lost-verdict", S.PASSED, Lvl.NONE, 0.0),
            make_result("dropped", S.PASSED, Lvl.NONE, 0.0),
        ),
    )
    after = make_run(
        "run-b",
        (
            make_result("regresses", S.FAILED, Lvl.PARTIAL_OUTAGE, None),
            make_result("improves", S.FAILED, Lvl.PARTIAL_OUTAGE, 900.0),
            make_result("noise", S.PASSED, Lvl.DEGRADED, 1000.0),
            make_result("slower", S.PASSED, Lvl.DEGRADED, 2400.0),
            make_result("lost-verdict", S.INCONCLUSIVE, Lvl.NONE, None),
            make_result("brand-new", S.PASSED, Lvl.NONE, 0.0),
        ),
        started_at="2026-11-26T11:00:00+00:00",
    )
    return before, after


def test_compare_judges_each_experiment(make_run: MakeRun, make_result: MakeResult) -> None:
    cmp = compare(*two_runs(make_run, make_result))
    # A: 5 of 6 passed. B: 3 of its 5 conclusive ones (the inconclusive one does not count).
    assert (cmp.grade_a, cmp.grade_b) == ("B", "C")
    assert (cmp.score_a, cmp.score_b, cmp.score_delta) == (83.33, 60.0, -23.33)
    changes = {e.name: (e.change, e.why) for e in cmp.experiments}
    assert changes == {
        "regresses": (Change.WORSE, "passed → failed"),
        "improves": (Change.BETTER, "impact full_outage → partial_outage"),
        "noise": (Change.SAME, "no change beyond measurement resolution"),
        "slower": (Change.WORSE, "recovery 800 → 2400 ms"),
        "lost-verdict": (Change.INCOMPARABLE, "passed → inconclusive"),
    }
    assert [e.name for e in cmp.regressions] == ["regresses", "slower"]
    assert [e.name for e in cmp.improvements] == ["improves"]
    slower = next(e for e in cmp.experiments if e.name == "slower")
    assert slower.recovery_time_delta_ms == 1600.0
    assert (cmp.added, cmp.removed) == (("brand-new",), ("dropped",))


def test_compare_tolerance_is_configurable(make_run: MakeRun, make_result: MakeResult) -> None:
    a, b = two_runs(make_run, make_result)
    cmp = compare(a, b, recovery_tolerance_ms=100.0)
    noise = next(e for e in cmp.experiments if e.name == "noise")
    assert noise.change is Change.WORSE


def test_history_and_compare_commands(
    tmp_path: Path, make_run: MakeRun, make_result: MakeResult
) -> None:
    db = tmp_path / "h.db"
    a, b = two_runs(make_run, make_result)
    with RunStore(db) as store:
        store.save(a)
        store.save(b)
    runner = CliRunner()
    history = runner.invoke(app, ["history", "--db", str(db)], env={"COLUMNS": "200"})
    assert history.exit_code == 0, history.output
    lines = history.stdout.splitlines()
    run_b_line = next(i for i, line in enumerate(lines) if "run-b" in line)
    run_a_line = next(i for i, line in enumerate(lines) if "run-a" in line)
    assert run_b_line < run_a_line  # newest first
    assert "60 %" in lines[run_b_line]
    assert " C " in lines[run_b_line]
    assert "2026-11-26 11:00:00Z" in lines[run_b_line]
    result = runner.invoke(
        app, ["compare", "run-a", "run-b", "--db", str(db)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "grade B → C, score 83.33 % → 60 % (-23.33)" in result.stdout
    assert "worse: passed → failed" in result.stdout
    assert "new in run-b" in result.stdout
    assert "not in run-b" in result.stdout


def test_unknown_run_id_exits_2_with_a_message(
    tmp_path: Path, make_run: MakeRun, make_result: MakeResult
) -> None:
    db = tmp_path / "h.db"
    with RunStore(db) as store:
        store.save(make_run("run-a", (make_result("x"),)))
    result = CliRunner().invoke(app, ["compare", "run-a", "run-zzz", "--db", str(db)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error: no run 'run-zzz'" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_history_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["history", "--db", str(tmp_path / "h.db"), "--service", "x"])
    assert result.exit_code == 0
    assert result.stdout == f"no runs in {tmp_path / 'h.db'} for service 'x'\n"
