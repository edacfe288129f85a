"""``${port:NAME}``, ``${copy_dir}``, ``parallel:`` and fault scope, as the loader and the
scheduler read them (no process is started here: the copies themselves are in
``test_parallel.py``)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chaos_workbench.engine.scheduler import experiment_scope
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import load_suite, parse_suite
from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.faults.registry import FaultScope

SUITE = """\
service: s
traffic: {url: "http://127.0.0.1:${port:front}/"}
proxies:
  - {name: db, listen: "127.0.0.1:${port:front}", upstream: "127.0.0.1:${port:db}"}
processes:
  - name: db
    command: [server, --port, "${port:db}", --data, "${copy_dir}/data"]
experiments:
  - {name: a, fault: {type: latency, proxy: db, latency_ms: 10}}
"""


def ports_of(text: str, places: CopyPlaces) -> tuple[int, int, int]:
    suite = parse_suite(text, env={}, copy=places)
    assert suite.traffic is not None
    front = int(suite.traffic.url.rsplit(":", 1)[1].rstrip("/"))
    listen = int(suite.proxies[0].listen.rsplit(":", 1)[1])
    upstream = int(suite.proxies[0].upstream.rsplit(":", 1)[1])
    return front, listen, upstream


def test_the_same_name_is_the_same_port_within_a_copy_and_another_in_the_next(
    tmp_path: Path,
) -> None:
    first, second = CopyPlaces(tmp_path / "c1"), CopyPlaces(tmp_path / "c2")
    front, listen, upstream = ports_of(SUITE, first)
    assert front == listen != upstream
    assert ports_of(SUITE, first) == (front, listen, upstream)  # allocated once per copy
    other = ports_of(SUITE, second)
    assert set(other).isdisjoint({front, upstream})
    for port in (front, upstream, *other):  # free loopback ports, bindable
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_copy_dir_is_the_copy_s_directory(tmp_path: Path) -> None:
    suite = parse_suite(SUITE, env={}, copy=CopyPlaces(tmp_path / "c1"))
    command = suite.processes[0].command
    assert command is not None
    assert command[-1] == f"{tmp_path}/c1/data"


def test_a_malformed_placeholder_is_reported_with_its_line() -> None:
    text = SUITE.replace("${port:db}", "${port:}", 1)
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, file="s.yaml", env={})
    problem = next(p for p in caught.value.problems if "${port:}" in p.message)
    assert problem.line == 4
    assert problem.path == "proxies[0].upstream"


def test_parallel_is_validated_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SUITE + "parallel: 99\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(path, {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (10, "parallel")
    assert "16" in problem.message
    path.write_text(SUITE + "parallel: 3\n")
    assert load_suite(path, {}).parallel == 3


@pytest.mark.parametrize(
    ("fault", "scope"),
    [
        ("{type: latency, proxy: db, latency_ms: 10}", FaultScope.COPY),
        ("{type: process_kill, process: db}", FaultScope.COPY),
        ("{type: process_kill, pattern: server}", FaultScope.HOST),
        ("{type: cpu_pressure, workers: 1}", FaultScope.HOST),
        ("{type: cpu_pressure, workers: 1, process: db}", FaultScope.COPY),
        ("{type: memory_pressure, process: db, percent: 50}", FaultScope.COPY),
        ("{type: disk_fill, path: /tmp, size_mb: 1}", FaultScope.HOST),
    ],
)
def test_fault_scope(fault: str, scope: FaultScope) -> None:
    text = SUITE.replace("{type: latency, proxy: db, latency_ms: 10}", fault)
    text += "blast_radius: {paths: [/tmp], process_patterns: [server]}\n"
    (experiment,) = parse_suite(text, env={}).experiments
    assert experiment_scope(experiment) is scope


def test_the_python_api_expands_placeholders_per_copy(tmp_path: Path) -> None:
    from chaos_workbench.workbench import ChaosWorkbench

    wb = ChaosWorkbench(
        "s",
        traffic={"url": "http://127.0.0.1:${port:front}/"},
        proxies=[{"name": "db", "listen": "127.0.0.1:${port:front}", "upstream": "127.0.0.1:9"}],
    )
    wb.add_experiment({"name": "a", "fault": {"type": "latency", "proxy": "db", "latency_ms": 5}})
    one, two = wb.suite(CopyPlaces(tmp_path / "1")), wb.suite(CopyPlaces(tmp_path / "2"))
    assert one.traffic is not None
    assert two.traffic is not None
    assert one.traffic.url == f"http://{one.proxies[0].listen}"  # the same ${port:front}
    assert one.traffic.url != two.traffic.url
    assert one.experiments[0].name == "a"
