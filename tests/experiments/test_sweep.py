"""``sweep:`` in a suite: checked against its fault's own model, expanded when loaded."""

from __future__ import annotations

import pytest

from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.experiments.schema import Suite

HEAD = """\
service: orders
traffic: {url: "http://127.0.0.1:8080/"}
proxies:
  - {name: db, listen: "127.0.0.1:15432", upstream: "127.0.0.1:5432"}
experiments:
  - name: before
    fault: {type: down, proxy: db}
  - name: db-latency
    fault: {type: latency, proxy: db, latency_ms: 1, jitter_ms: 5}
    expect: {max_impact: degraded}
"""


def problems(sweep: str) -> list[str]:
    with pytest.raises(SuiteError) as info:
        parse_suite(HEAD + f"    sweep: {sweep}\n", file="s.yaml")
    return [str(p) for p in info.value.problems]


def test_each_value_becomes_an_ordinary_experiment_in_place() -> None:
    suite = parse_suite(HEAD + "    sweep: {latency_ms: [50, 200, 1600]}\n")
    names = [e.name for e in suite.experiments]
    assert names == [
        "before",
        "db-latency[latency_ms=50]",
        "db-latency[latency_ms=200]",
        "db-latency[latency_ms=1600]",
    ]
    assert suite.experiments[0].sweep_of is None
    for index, (spec, value) in enumerate(zip(suite.experiments[1:], [50, 200, 1600], strict=True)):
        assert spec.sweep is None  # expanded: a scheduler runs it like any experiment
        assert spec.fault is not None
        assert spec.fault.model_dump()["latency_ms"] == value
        assert spec.fault.model_dump()["jitter_ms"] == 5  # the other fields are kept
        assert spec.expect.max_impact.value == "degraded"
        assert spec.sweep_of is not None
        assert (spec.sweep_of.sweep, spec.sweep_of.parameter, spec.sweep_of.value) == (
            "db-latency",
            "latency_ms",
            value,
        )
        assert spec.sweep_of.index == index


def test_a_suite_built_in_python_is_expanded_too() -> None:
    suite = Suite.model_validate(
        {
            "service": "s",
            "traffic": {"url": "http://127.0.0.1:1/"},
            "proxies": [{"name": "db", "listen": "127.0.0.1:2", "upstream": "127.0.0.1:3"}],
            "experiments": [
                {
                    "name": "e",
                    "fault": {"type": "http_error", "proxy": "db"},
                    "sweep": {"probability": [0.1, 0.5]},
                }
            ],
        }
    )
    assert [e.name for e in suite.experiments] == ["e[probability=0.1]", "e[probability=0.5]"]


def test_each_bad_value_is_reported_with_its_line() -> None:
    found = problems("{latency_ms: [50, -200, 50, fast]}")
    assert found == [
        "s.yaml:11: experiments[1].sweep.latency_ms[1]: as latency_ms: Input should be "
        "greater than or equal to 0",
        "s.yaml:11: experiments[1].sweep.latency_ms[2]: 50 is listed twice",
        "s.yaml:11: experiments[1].sweep.latency_ms[3]: as latency_ms: Input should be a valid "
        "integer, unable to parse string as an integer",
    ]


@pytest.mark.parametrize(
    ("sweep", "expected"),
    [
        (
            "{latncy_ms: [50, 60]}",
            "s.yaml:11: experiments[1].sweep.latncy_ms: 'latncy_ms' is not a parameter of the "
            "latency fault (one of: duration_s, jitter_ms, latency_ms, ",
        ),
        (
            "{type: [latency, down]}",
            "s.yaml:11: experiments[1].sweep.type: 'type' is not a parameter",
        ),
        (
            "{latency_ms: [50, 60], jitter_ms: [1, 2]}",
            "s.yaml:11: experiments[1].sweep: sweep exactly one parameter of the fault (got 2: "
            "latency_ms, jitter_ms)",
        ),
        (
            "{latency_ms: [50]}",
            "s.yaml:11: experiments[1].sweep.latency_ms: Tuple should have at least 2 items",
        ),
        (
            "{latency_ms: [" + ", ".join(str(n) for n in range(51)) + "]}",
            "s.yaml:11: experiments[1].sweep.latency_ms: Tuple should have at most 50 items",
        ),
    ],
)
def test_a_sweep_that_does_not_fit_its_fault_is_refused(sweep: str, expected: str) -> None:
    found = problems(sweep)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_a_sweep_goes_with_a_single_fault() -> None:
    text = HEAD.replace(
        "    fault: {type: latency, proxy: db, latency_ms: 1, jitter_ms: 5}\n",
        "    faults: [{type: latency, proxy: db, latency_ms: 1}]\n",
    )
    with pytest.raises(SuiteError) as info:
        parse_suite(text + "    sweep: {latency_ms: [1, 2]}\n", file="s.yaml")
    assert [str(p) for p in info.value.problems] == [
        "s.yaml:11: experiments[1].sweep: a sweep varies the single 'fault'; not 'faults'"
    ]
