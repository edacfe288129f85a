"""The SQLite run history: round trip, listing, id prefixes, refusal of newer files."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos_workbench.model import ExperimentStatus, FaultResult, ImpactLevel, RunRecord
from chaos_workbench.store import AmbiguousRunId, RunNotFound, RunStore, StoreError

MakeRun = Callable[..., RunRecord]
MakeResult = Callable[..., FaultResult]


def test_save_and_load_round_trip_across_reopening(
    tmp_path: Path, make_run: MakeRun, make_result: MakeResult
) -> None:
    record = make_run(
        "run-1",
        (
            make_result("a"),
            make_result("b", ExperimentStatus.FAILED, ImpactLevel.FULL_OUTAGE, None),
        ),
    )
    db = tmp_path / "nested" / "history.db"
    with RunStore(db) as store:
        store.save(record)
    with RunStore(db) as store:
        assert store.load("run-1") == record


def test_listing_is_newest_first_filtered_and_limited(
    tmp_path: Path, make_run: MakeRun, make_result: MakeResult
) -> None:
    with RunStore(tmp_path / "h.db") as store:
        store.save(make_run("r1", (make_result("a"),), started_at="2026-11-26T10:00:00+00:00"))
        store.save(make_run("r3", (make_result("a"),), started_at="2026-11-26T12:00:00+00:00"))
        store.save(
            make_run(
                "r2", (make_result("a"),), service="cart", started_at="2026-11-26T11:00:00+00:00"
            )
        )
        store.save(
            make_run(
                "r4",
                (make_result("a", ExperimentStatus.INCONCLUSIVE),),
                started_at="2026-11-26T13:00:00+00:00",
            )
        )
        assert [r.run_id for r in store.list_runs()] == ["r4", "r3", "r2", "r1"]
        assert [r.run_id for r in store.list_runs(service="orders", limit=2)] == ["r4", "r3"]
        assert [r.run_id for r in store.list_runs(service="cart")] == ["r2"]
        assert store.list_runs(service="nobody") == []
        newest, second = store.list_runs(limit=2)
        assert (newest.grade, newest.score_percent, newest.experiments, newest.passed) == (
            None,
            None,
            1,
            0,
        )
        assert (second.grade, second.score_percent, second.passed) == ("A", 100.0, 1)
        with pytest.raises(ValueError, match="limit"):
            store.list_runs(limit=0)


def test_saving_the_same_run_again_replaces_it(
    tmp_path: Path, make_run: MakeRun, make_result: MakeResult
) -> None:
    with RunStore(tmp_path / "h.db") as store:
        store.save(make_run("r1", (make_result("a"),)))
        store.save(make_run("r1", (make_result("a"), make_result("b"))))
        (only,) = store.list_runs()
        assert only.experiments == 2
        assert len(store.load("r1").results) == 2


def test_ids_resolve_by_unique_prefix_only(
    tmp_path: Path, make_run: MakeRun, make_result: MakeResult
) -> None:
    with RunStore(tmp_path / "h.db") as store:
        for run_id in ("20261126-aaaa", "20261126-abcd", "20261127-x_y"):
            store.save(make_run(run_id, (make_result("a"),)))
        assert store.load("20261127").run_id == "20261127-x_y"
        assert store.load("20261126-ab").run_id == "20261126-abcd"
        with pytest.raises(AmbiguousRunId, match="20261126-aaaa, 20261126-abcd"):
            store.load("20261126-a")
        with pytest.raises(RunNotFound, match="no run 'nope'"):
            store.load("nope")
        # LIKE wildcards in an id are literal characters, not patterns.
        with pytest.raises(RunNotFound):
            store.load("2026112_")
        with pytest.raises(RunNotFound):
            store.load("%")
        assert store.load("20261127-x_").run_id == "20261127-x_y"
        with pytest.raises(RunNotFound):
            store.load("")


def test_a_history_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer Chaos Workbench"):
        RunStore(db)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the run history"):
        RunStore(db)
