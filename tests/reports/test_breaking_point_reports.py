"""Compound faults' intervals and sweeps' breaking points in every report format.

A crafted record (as the engine writes it): a compound experiment with two faults, and a
sweep of three values whose breaking point is 200 / 400; ``tests/engine/test_sweep.py``
checks the same reports from a real run.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from chaos_workbench.analysis.breaking_point import breaking_points
from chaos_workbench.model import (
    ExperimentStatus,
    FaultInterval,
    FaultResult,
    FaultType,
    ImpactLevel,
    PhaseStats,
    RunRecord,
    SweepPoint,
)
from chaos_workbench.reports import (
    from_json,
    report_dict,
    scorecard_text,
    to_html,
    to_json,
    to_junit_xml,
    to_markdown,
)
from chaos_workbench.reports.svg import timeline_svg
from chaos_workbench.reports.sweep_svg import breaking_point_svg

SVG = "{http://www.w3.org/2000/svg}"


def _sweep_result(value: int, status: ExperimentStatus, impact: ImpactLevel) -> FaultResult:
    return FaultResult(
        name=f"db-latency[latency_ms={value}]",
        fault_type=FaultType.LATENCY,
        description=f"latency {value} ms on db",
        status=status,
        recovered=True,
        impact=impact,
        phases={"fault": PhaseStats(requests=60, successes=60, p99_ms=value + 4.0, duration_s=1.5)},
        sweep=SweepPoint(sweep="db-latency", parameter="latency_ms", value=value, index=0),
    )


@pytest.fixture
def record(record_factory: Callable[..., RunRecord]) -> RunRecord:
    base = record_factory()
    compound = base.results[0].model_copy(
        update={
            "name": "slow-db-and-cache",
            "faults": (
                FaultInterval(
                    fault="latency",
                    target="db",
                    description="latency 300 ms on db",
                    start_ms=1250.0,
                    end_ms=2250.0,
                ),
                FaultInterval(
                    fault="http_error",
                    target="cache",
                    description="http 503 on cache <p=0.3>",
                    start_ms=1750.0,
                    end_ms=3250.0,
                ),
            ),
        }
    )
    sweep = (
        _sweep_result(400, ExperimentStatus.FAILED, ImpactLevel.DEGRADED),
        _sweep_result(100, ExperimentStatus.PASSED, ImpactLevel.NONE),
        _sweep_result(200, ExperimentStatus.PASSED, ImpactLevel.NONE),
    )
    results = (compound, *sweep)
    return record_factory(
        results=results, score=base.score, breaking_points=breaking_points(results)
    )


def test_json_round_trips_the_intervals_and_breaking_points(record: RunRecord) -> None:
    assert from_json(to_json(record)) == record
    raw = json.loads(to_json(record))
    assert raw["breaking_points"][0]["tolerated"] == 200
    assert raw["breaking_points"][0]["breaks_at"] == 400
    assert raw["results"][0]["faults"][1]["start_ms"] == 1750.0
    summary = report_dict(record)
    assert summary["breaking_points"][0]["summary"].startswith("db-latency tolerates 200 ms")
    assert summary["results"][0]["faults"][0]["target"] == "db"
    assert summary["results"][1]["sweep"]["value"] == 400


def test_a_record_written_before_these_fields_still_loads(record: RunRecord) -> None:
    raw = json.loads(to_json(record))
    del raw["breaking_points"]
    for result in raw["results"]:
        del result["faults"], result["sweep"]
    old = from_json(json.dumps(raw))
    assert old.breaking_points == ()
    assert all(r.faults == () and r.sweep is None for r in old.results)
    assert "Breaking point" not in scorecard_text(old)


def test_terminal_lists_each_fault_and_states_the_breaking_point(record: RunRecord) -> None:
    text = scorecard_text(record, width=200)
    assert "fault 1: latency 300 ms on db: 1.25 s → 2.25 s" in text
    assert "fault 2: http 503 on cache <p=0.3>: 1.75 s → 3.25 s" in text  # target in it
    assert (
        "Breaking point of db-latency (latency_ms): 200 / 400. db-latency tolerates 200 ms; "
        "at 400 ms it is degraded." in text
    )


def test_junit_has_a_case_per_value_and_the_breaking_point_in_the_suite(
    record: RunRecord,
) -> None:
    suite = ET.fromstring(to_junit_xml(record).split("\n", 1)[1]).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert {"db-latency[latency_ms=100]", "db-latency[latency_ms=400]"} <= set(cases)
    assert cases["db-latency[latency_ms=400]"].find("failure") is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["breaking_point.db-latency"] == "latency_ms: 200 / 400"
    out = suite.find("system-out")
    assert out is not None
    assert out.text is not None
    assert "breaking point of db-latency: db-latency tolerates 200 ms" in out.text
    assert "100: passed, none, p99 104 ms; 200: passed" in out.text
    compound_out = cases["slow-db-and-cache"].find("system-out")
    assert compound_out is not None
    assert compound_out.text is not None
    assert "fault 2: http 503 on cache <p=0.3>: 1.75 s → 3.25 s" in compound_out.text


def test_markdown_has_a_breaking_points_table_and_the_intervals(record: RunRecord) -> None:
    text = to_markdown(record)
    assert "#### Breaking points" in text
    assert "| db-latency | latency_ms | 200 / 400 |" in text
    assert "- fault 1: latency 300 ms on db: 1.25 s → 2.25 s" in text
    assert "400: failed, degraded, p99 404 ms" in text


def test_html_has_the_chart_of_impact_against_the_value(record: RunRecord) -> None:
    html = to_html(record)
    assert "Breaking point: db-latency" in html
    assert "db-latency tolerates 200 ms; at 400 ms it is degraded." in html
    assert html.count('class="sweep-value"') == 3
    assert html.count('class="fault-interval"') == 2  # the compound timeline's bars
    assert "http 503 on cache &lt;p=0.3&gt;" in html  # escaped, never markup


def test_the_breaking_point_chart_places_values_in_order_and_marks_the_boundary(
    record: RunRecord,
) -> None:
    (point,) = record.breaking_points
    root = ET.fromstring(breaking_point_svg(point))
    dots = root.findall(f"{SVG}circle")
    xs = [float(d.get("cx", "0")) for d in dots]
    ys = [float(d.get("cy", "0")) for d in dots]
    assert xs == sorted(xs)  # 100, 200, 400 from left to right
    assert [d.get("fill") for d in dots] == ["#1e8449", "#1e8449", "#c0392b"]
    assert ys[0] == ys[1] > ys[2]  # "none" drawn below "degraded"
    (marker,) = [e for e in root.iter(f"{SVG}line") if e.get("class") == "breaking-point-marker"]
    assert xs[1] < float(marker.get("x1", "0")) < xs[2]  # between 200 and 400


def test_no_marker_when_the_breaking_point_was_not_reached(record: RunRecord) -> None:
    passing = [r for r in record.results if r.status is ExperimentStatus.PASSED and r.sweep]
    (point,) = breaking_points(passing)
    assert 'class="breaking-point-marker"' not in breaking_point_svg(point)


def test_timeline_bars_span_each_faults_interval(record: RunRecord) -> None:
    compound = record.results[0]
    root = ET.fromstring(timeline_svg(compound))
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "fault-interval"]
    assert len(bars) == 2
    first, second = (
        (float(b.get("x", "0")), float(b.get("x", "0")) + float(b.get("width", "0"))) for b in bars
    )
    # 1.25–2.25 s and 1.75–3.25 s: the second starts inside the first and ends after it.
    assert first[0] < second[0] < first[1] < second[1]
    assert second[1] - second[0] == pytest.approx(1.5 * (first[1] - first[0]), rel=0.01)


def test_a_single_fault_draws_no_interval_bars(record: RunRecord) -> None:
    single = record.results[1]
    assert 'class="fault-interval"' not in timeline_svg(single)
