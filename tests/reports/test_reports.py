"""Every report from one crafted run record: content a broken renderer would get wrong."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chaos_workbench.model import ExperimentStatus, RunRecord
from chaos_workbench.reports import (
    ReportFormat,
    from_json,
    read_json,
    render,
    report_dict,
    scorecard_text,
    to_html,
    to_json,
    to_junit_xml,
    to_markdown,
    write_report,
)
from chaos_workbench.reports.svg import timeline_svg


def test_json_round_trips_the_whole_record(record: RunRecord, tmp_path: Path) -> None:
    text = to_json(record)
    data = json.loads(text)
    assert data["score"]["grade"] == "F"  # computed fields are in the file for readers
    assert data["results"][0]["revert_ms"] == 20.0
    assert data["results"][0]["disruption_ms"] == 2740.0
    assert data["warmup_s"] == 1.24
    assert data["results"][0]["phases"]["fault"]["success_ratio"] == 0.625
    assert from_json(text) == record
    path = write_report(record, tmp_path / "out" / "run.json")
    assert read_json(path) == record


def test_the_json_report_has_the_design_sketch_keys_at_its_top_level(record: RunRecord) -> None:
    """A reader of the sketch's report() finds its keys in the file, beside the record's."""
    data = json.loads(to_json(record))
    assert (data["service"], data["experiments"], data["grade"]) == ("order-service", 5, "F")
    assert data["recovery_rate"] == 20.0
    first = data["results"][0]
    assert (first["fault"], first["description"], first["recovered"], first["impact"]) == (
        "latency",
        "latency 500 ms on db",
        True,
        "degraded",
    )
    assert first["fault_type"] == "latency"  # the record's own key stays
    ungraded = json.loads(to_json(record.model_copy(update={"score": None})))
    assert (ungraded["grade"], ungraded["recovery_rate"]) == (None, None)


def test_report_dict_has_the_design_sketch_keys(record: RunRecord) -> None:
    report = report_dict(record)
    assert {"service", "experiments", "recovery_rate", "grade", "results"} <= set(report)
    assert report["service"] == "order-service"
    assert report["experiments"] == 5
    assert report["grade"] == "F"
    assert report["recovery_rate"] == 20.0
    first = report["results"][0]
    assert {"fault", "description", "recovered", "impact"} <= set(first)
    assert (first["fault"], first["recovered"], first["impact"]) == ("latency", True, "degraded")
    json.dumps(report)  # plain JSON types only


def test_report_dict_without_a_grade(record_factory: Callable[..., RunRecord]) -> None:
    record = record_factory(results=record_factory().results[2:3], score=None)
    report = report_dict(record)
    assert (report["grade"], report["recovery_rate"], report["experiments"]) == (None, None, 1)


def test_terminal_scorecard_rows_reasons_and_grade(record: RunRecord) -> None:
    text = scorecard_text(record, width=200)
    lines = text.splitlines()
    rows = {
        name: line
        for line in lines
        for name in ("db-latency", "payments-errors", "memory", "db-down")
        if line.startswith(f" {name} ")
    }
    assert rows["db-latency"].split() == ["db-latency", "degraded", "730", "ms", "20", "ms",
                                          "2740", "ms", "PASS"]  # fmt: skip
    assert rows["payments-errors"].split()[-4:] == ["no", "-", "-", "FAIL"]
    assert rows["memory"].split() == ["memory", "-", "-", "-", "-", "ERROR"]
    assert rows["db-down"].split()[-7:] == ["12.4", "s", "3150", "ms", "16.9", "s", "ABORTED"]
    # Then each experiment's reason, with its fault, on lines of its own.
    assert "db-latency (latency 500 ms on db): PASS: recovered in 730 ms" in text
    assert "payments-errors (http_error 80 % 503 on payments): FAIL: impact partial_outage" in text
    assert "memory (memory_pressure 70 % on order-service): ERROR: cannot apply" in text
    assert "ABORTED: guardrail" in text
    assert "INCONCLUSIVE: steady state did not hold" in text
    assert "measurements less reliable" in text
    assert "Grade F: 20 % (1 of 4 passed, 1 inconclusive)" in text
    assert "Warm-up: steady state after 1.2 s" in text


@pytest.mark.parametrize("long_name", [False, True])
def test_the_terminal_scorecard_reads_at_80_columns_without_breaking_a_word(
    record_factory: Callable[..., RunRecord], long_name: bool
) -> None:
    """CI logs are 80 columns: nothing cut, no name or word broken across lines."""
    results = list(record_factory().results)
    if long_name:  # 39 characters, one word: no room for the table, so the figures stack
        results[1] = results[1].model_copy(update={"name": "payments-errors-under-load-retried"})
    record = record_factory(results=tuple(results))
    text = scorecard_text(record, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in text  # nothing truncated
    flowing = " ".join(text.split())  # what a reader reads across the line breaks
    for result in results:
        assert any(result.name in line for line in lines), result.name  # on one line, whole
        assert result.reason in flowing  # wrapped between words only
    for figure in ("730 ms", "20 ms", "2740 ms", "12.4 s", "3150 ms", "16.9 s"):
        assert figure in flowing
    for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "ERROR", "ABORTED"):
        assert verdict in text.split()


def test_terminal_says_why_there_is_no_grade(record_factory: Callable[..., RunRecord]) -> None:
    record = record_factory(results=record_factory().results[2:3], score=None, interrupted=True)
    text = scorecard_text(record)
    assert "No grade: no experiment was conclusive" in text
    assert "interrupted" in text


def test_junit_has_one_case_per_experiment_with_the_right_outcomes(record: RunRecord) -> None:
    root = ET.fromstring(to_junit_xml(record))
    suite = root.find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "5",
        "failures": "2",
        "errors": "1",
        "skipped": "1",
    }
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["db-latency", "payments-errors", "<kill> & db", "memory", "db-down"]
    assert [child.tag for child in cases["db-latency"]] == ["system-out"]
    failure = cases["payments-errors"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("failed: impact partial_outage is worse")
    skipped = cases["<kill> & db"].find("skipped")
    assert skipped is not None
    assert "steady state did not hold" in skipped.get("message", "")
    error = cases["memory"].find("error")
    assert error is not None
    assert error.text == "FaultError: cgroup v2 memory controller not delegated"
    aborted = cases["db-down"].find("failure")
    assert aborted is not None
    assert aborted.get("type") == "aborted"
    assert cases["db-latency"].get("time") == "17.500"
    out = cases["db-latency"].findtext("system-out") or ""
    assert "revert: 20 ms" in out.splitlines()
    assert "disruption: 2740 ms" in out.splitlines()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["grade"] == "F"
    assert props["score"] == "20"
    assert props["warmup_s"] == "1.24"


def test_markdown_table(record: RunRecord) -> None:
    text = to_markdown(record)
    lines = text.splitlines()
    header = lines.index(
        "| Experiment | Fault | Impact | Recovered | Recovery time | Revert | Disruption | Verdict |"
    )
    assert lines[header + 1] == "|---|---|---|---|---:|---:|---:|---|"
    rows = lines[header + 2 : header + 7]
    assert all(row.startswith("| ") and row.endswith(" |") for row in rows)
    assert rows[0].startswith(
        "| db-latency | latency 500 ms on db | degraded | yes | 730 ms | 20 ms | 2740 ms | ✅ PASS"
    )
    # A pipe inside a reason must not split the cell.
    assert "worse than degraded \\| and not recovered" in rows[1]
    assert all(len(re.split(r"(?<!\\)\|", row)) == 10 for row in rows)
    assert "**Grade F: 20 % (1 of 4 passed, 1 inconclusive)**" in text
    assert "_Warm-up: steady state after 1.2 s, before the first experiment._" in text


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_with_grade_and_charts(record: RunRecord) -> None:
    html = to_html(record)
    parser = _Collector()
    parser.feed(html)
    tags = parser.tags
    # Self-contained: no scripts, no external stylesheets, images or fetched URLs.
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe")]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    grade = [a for t, a in tags if a.get("id") == "grade"]
    assert grade
    assert grade[0]["class"] == "grade grade-F"
    assert "Grade F: 20 %" in html
    assert re.search(r'<td class="num">730 ms</td>\s*<td class="num">20 ms</td>\s*'
                     r'<td class="num">2740 ms</td>', html)  # fmt: skip
    assert [a for t, a in tags if a.get("id") == "warmup"]
    # One chart per experiment; the ones with windows carry their events.
    assert sum(1 for t, _ in tags if t == "svg") == 5
    event_kinds = [
        a["class"] for t, a in tags if t == "line" and (a.get("class") or "").startswith("event")
    ]
    assert "event event-inject" in event_kinds
    assert "event event-recovered" in event_kinds
    assert "event event-reverted" in event_kinds
    # Names from the suite are escaped, not markup.
    assert "&lt;kill&gt; &amp; db" in html
    assert "<kill>" not in html


def test_svg_marks_broken_windows_and_leaves_gaps(record: RunRecord) -> None:
    svg = timeline_svg(record.results[0])
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    dots = root.findall(f"{ns}circle")
    # 23 windows, one empty: 22 dots, 7 of them red (the SLO-broken fault windows).
    assert len(dots) == 22
    assert sum(1 for d in dots if d.get("fill") == "#c0392b") == 7
    # The empty window splits each series in two: 2 polylines per panel.
    assert len(root.findall(f"{ns}polyline")) == 4
    bands = [
        r.get("class")
        for r in root.findall(f"{ns}rect")
        if (r.get("class") or "").startswith("phase")
    ]
    assert bands == ["phase phase-baseline", "phase phase-fault", "phase phase-recovery"]
    empty = timeline_svg(record.results[2])
    assert "no measurements" in empty
    ET.fromstring(empty)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("r.json", ReportFormat.JSON),
        ("r.html", ReportFormat.HTML),
        ("r.xml", ReportFormat.JUNIT),
        ("r.md", ReportFormat.MARKDOWN),
    ],
)
def test_write_report_picks_the_format_from_the_suffix(
    record: RunRecord, tmp_path: Path, name: str, fmt: ReportFormat
) -> None:
    path = write_report(record, tmp_path / name)
    assert path.read_text(encoding="utf-8") == render(record, fmt)
    assert not list(tmp_path.glob("*.tmp"))


def test_write_report_refuses_an_unknown_suffix(record: RunRecord, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot tell the report format of .*r\.pdf"):
        write_report(record, tmp_path / "r.pdf")


def test_the_crafted_record_covers_every_status(record: RunRecord) -> None:
    assert {r.status for r in record.results} == set(ExperimentStatus)


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs a headless Chromium (apt-get install chromium)"
)
def test_html_renders_in_a_real_browser(record: RunRecord, tmp_path: Path) -> None:
    page = write_report(record, tmp_path / "report.html")
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The browser's DOM: every chart parsed as SVG, with its event lines.
    assert proc.stdout.count("<svg") == 5
    assert 'class="event event-recovered"' in proc.stdout
    assert 'id="grade">F</span>' in proc.stdout


def test_names_with_brackets_are_shown_as_written_never_as_markup(
    record_factory: Callable[..., RunRecord],
) -> None:
    """Labels are free text ("[bold]" or "[/]" included): the terminal shows them as typed."""
    base = record_factory()
    results = (base.results[0].model_copy(update={"name": "db [/] latency [bold]x"}),)
    record = record_factory(service="svc [/red]", results=results, score=base.score)
    for width in (200, 80):
        text = scorecard_text(record, width=width)
        assert "Chaos Workbench: svc [/red]" in text
        assert "db [/] latency [bold]x" in text
