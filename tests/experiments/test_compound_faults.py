"""``faults:`` in a suite: each item a fault plus ``at_s``/``duration_s``, checked at load time.

Uses the real ``latency`` fault (its own parameter model): nothing is injected here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos_workbench.experiments.errors import Problem, SuiteError
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.experiments.schema import ExperimentSpec, ScheduledFault

HEAD = """\
service: orders
traffic: {url: "http://127.0.0.1:8080/"}
proxies:
  - {name: db, listen: "127.0.0.1:15432", upstream: "127.0.0.1:5432"}
  - {name: cache, listen: "127.0.0.1:16379", upstream: "127.0.0.1:6379"}
blast_radius: {max_concurrent_faults: 2}
defaults: {fault_s: 10}
experiments:
"""


def problems(body: str, head: str = HEAD) -> list[str]:
    with pytest.raises(SuiteError) as info:
        parse_suite(head + body, file="s.yaml")
    return [str(p) for p in info.value.problems]


def test_faults_load_with_their_offsets_and_durations() -> None:
    suite = parse_suite(
        HEAD
        + """\
  - name: both
    faults:
      - {type: latency, proxy: db, latency_ms: 300}
      - {type: latency, proxy: cache, latency_ms: 50, at_s: 2.5, duration_s: 5}
"""
    )
    (spec,) = suite.experiments
    assert spec.fault is None
    first, second = spec.schedule
    assert (first.at_s, first.fault.duration_s, first.fault.references()[0].name) == (
        0.0,
        None,
        "db",
    )
    assert (second.at_s, second.fault.duration_s) == (2.5, 5.0)
    assert second.fault.type == "latency"
    assert "at_s" not in second.fault.model_dump()  # the fault's own model, without at_s


def test_a_single_fault_is_one_fault_at_zero_for_the_whole_phase() -> None:
    spec = ExperimentSpec.model_validate(
        {"name": "x", "fault": {"type": "latency", "proxy": "db", "latency_ms": 5}}
    )
    (item,) = spec.schedule
    assert isinstance(item, ScheduledFault)
    assert (item.at_s, item.fault.duration_s) == (0.0, None)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # starts when the 10 s phase is over
        (
            "[{type: latency, proxy: db, latency_ms: 1, at_s: 10}]",
            "s.yaml:10: experiments[0].faults[0].at_s: starts at 10 s, when the 10 s fault "
            "phase is over",
        ),
        # 8 + 3 > 10
        (
            "[{type: latency, proxy: db, latency_ms: 1, at_s: 8, duration_s: 3}]",
            "s.yaml:10: experiments[0].faults[0].duration_s: at_s 8 + duration_s 3 ends "
            "after the 10 s fault phase",
        ),
        # three at once, two allowed
        (
            "[{type: latency, proxy: db, latency_ms: 1}, {type: latency, proxy: db, "
            "latency_ms: 2}, {type: latency, proxy: cache, latency_ms: 3, at_s: 1}]",
            "s.yaml:10: experiments[0].faults: holds 3 faults at once; "
            "blast_radius.max_concurrent_faults allows 2",
        ),
    ],
)
def test_a_schedule_that_does_not_fit_is_refused_with_its_line(items: str, expected: str) -> None:
    found = problems(f"  - name: x\n    faults: {items}\n")
    assert any(p.startswith(expected) for p in found), found


def test_faults_in_sequence_do_not_count_as_held_together() -> None:
    suite = parse_suite(
        HEAD
        + """\
  - name: in-turn
    faults:
      - {type: latency, proxy: db, latency_ms: 1, duration_s: 4}
      - {type: latency, proxy: db, latency_ms: 2, at_s: 4, duration_s: 4}
      - {type: latency, proxy: cache, latency_ms: 3, at_s: 4}
"""
    )
    assert len(suite.experiments[0].schedule) == 3  # at most two at any moment


def test_every_mistake_in_the_items_is_reported_at_once_with_its_line() -> None:
    found = problems(
        """\
  - name: x
    faults:
      - {type: latency, proxy: db, latency_ms: 1}
      - {type: latency, proxy: nowhere, latency_ms: -5, at_s: -1}
      - {type: latency, proxy: db, latency_ms: 1, at_sec: 2}
      - {type: no_such_fault}
"""
    )
    assert (
        "s.yaml:12: experiments[0].faults[1].latency_ms: Input should be greater than or"
        " equal to 0" in found
    )
    assert (
        "s.yaml:12: experiments[0].faults[1].at_s: Input should be greater than or equal"
        " to 0" in found
    )
    assert any(
        p.startswith("s.yaml:13: experiments[0].faults[2].at_sec: unknown key (did you mean")
        for p in found
    ), found
    assert any(p.startswith("s.yaml:14: experiments[0].faults[3].type:") for p in found), found


def test_an_undefined_proxy_in_a_later_fault_points_at_that_fault() -> None:
    found = problems(
        """\
  - name: x
    faults:
      - {type: latency, proxy: db, latency_ms: 1}
      - {type: latency, proxy: nowhere, latency_ms: 1, at_s: 1}
"""
    )
    assert found == [
        "s.yaml:12: experiments[0].faults[1].proxy: proxy 'nowhere' is not defined "
        "(defined: cache, db)"
    ]


@pytest.mark.parametrize(
    "body",
    [
        "  - name: x\n",
        "  - name: x\n    fault: {type: latency, proxy: db, latency_ms: 1}\n"
        "    faults: [{type: latency, proxy: db, latency_ms: 1}]\n",
    ],
)
def test_exactly_one_of_fault_and_faults(body: str) -> None:
    found = problems(body)
    assert found == [
        "s.yaml:9: experiments[0]: give exactly one of 'fault' (one fault, held for the fault "
        "phase) or 'faults' (several, each with an optional at_s and duration_s)"
    ]


def test_cwb_validate_exits_2_with_the_line_and_no_traceback(tmp_path: Path) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        HEAD + "  - name: x\n    faults: [{type: latency, proxy: db, latency_ms: 1, at_s: 12}]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.cli", "validate", str(suite)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{suite}:10: experiments[0].faults[0].at_s: starts at 12 s" in result.stderr


def test_problems_are_plain_problems() -> None:
    with pytest.raises(SuiteError) as info:
        parse_suite(HEAD + "  - name: x\n", file="s.yaml")
    assert all(isinstance(p, Problem) for p in info.value.problems)
