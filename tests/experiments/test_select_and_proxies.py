"""Validation of ``proxies: [..]`` (proxy faults on several proxies) and ``select:`` (a
process target chosen at injection time): every mistake as ``file:line: path: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_workbench.experiments.errors import Problem, SuiteError
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.faults.down import DownParams
from chaos_workbench.faults.latency import LatencyParams
from chaos_workbench.faults.process_kill import ProcessKillParams

HEAD = """\
service: cluster
traffic:
  url: http://127.0.0.1:8080
  rate_per_s: 20
proxies:
  - {name: a, listen: "127.0.0.1:15001", upstream: "127.0.0.1:5001"}
  - {name: b, listen: "127.0.0.1:15002", upstream: "127.0.0.1:5002"}
  - {name: c, listen: "127.0.0.1:15003", upstream: "127.0.0.1:5003"}
processes:
  - name: n1
    command: [python, -m, http.server, "5001"]
    ready: {port: 5001}
    ports: [7001]
  - name: n2
    command: [python, -m, http.server, "5002"]
    ready: {port: 5002}
experiments:
  - name: the experiment
"""
FAULT_LINE = 19  # the first line after HEAD (18 lines)


def problems_of(tmp_path: Path, fault: str, tail: str = "") -> tuple[Path, tuple[Problem, ...]]:
    file = tmp_path / "suite.yaml"
    file.write_text(HEAD + fault + tail)
    with pytest.raises(SuiteError) as info:
        load_suite(file, env={})
    return file, info.value.problems


def loads(tmp_path: Path, fault: str, tail: str = "") -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(HEAD + fault + tail)
    load_suite(file, env={})


# -- several proxies --------------------------------------------------------------------------


def test_proxies_list_loads_and_keeps_its_order(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(HEAD + "    fault: {type: down, proxies: [c, a, b]}\n")
    fault = load_suite(file, env={}).experiments[0].fault
    assert isinstance(fault, DownParams)
    assert fault.targets == ("c", "a", "b")
    assert [r.field for r in fault.references()] == ["proxies.0", "proxies.1", "proxies.2"]


def test_an_undefined_proxy_in_the_list_points_at_its_entry(tmp_path: Path) -> None:
    fault = "    fault:\n      type: latency\n      latency_ms: 100\n      proxies:\n        - a\n        - nope\n"
    file, problems = problems_of(tmp_path, fault)
    assert [str(p) for p in problems] == [
        f"{file}:{FAULT_LINE + 5}: experiments[0].fault.proxies[1]: "
        "proxy 'nope' is not defined (defined: a, b, c)"
    ]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "{type: down, proxy: a, proxies: [b]}",
            "give exactly one of 'proxy' (a name) or 'proxies' (a list)",
        ),
        ("{type: down}", "give exactly one of 'proxy' (a name) or 'proxies' (a list)"),
        ("{type: latency, latency_ms: 5, proxies: [a, b, a]}", "'proxies' names a more than once"),
        ("{type: toxic, toxic: timeout, proxies: [a, '']}", "'proxies' has an empty name"),
    ],
)
def test_proxy_or_proxies_mistakes_have_the_fault_line(
    tmp_path: Path, fault: str, message: str
) -> None:
    file, problems = problems_of(tmp_path, f"    fault: {fault}\n")
    assert len(problems) == 1, problems
    assert str(problems[0]).startswith(f"{file}:{FAULT_LINE}: experiments[0].fault: ")
    assert message in problems[0].message


def test_an_empty_proxies_list_is_refused(tmp_path: Path) -> None:
    _file, problems = problems_of(tmp_path, "    fault: {type: down, proxies: []}\n")
    assert [(p.line, p.path) for p in problems] == [(FAULT_LINE, "experiments[0].fault.proxies")]
    assert "at least 1 item" in problems[0].message


# -- select ----------------------------------------------------------------------------------


def test_a_select_target_loads(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(
        HEAD + "    fault:\n      type: process_kill\n      select:\n"
        "        http: http://127.0.0.1:9000/leader\n        pattern: 'leader=(\\w+)'\n"
        "        among: [n1, n2]\n"
    )
    fault = load_suite(file, env={}).experiments[0].fault
    assert isinstance(fault, ProcessKillParams)
    assert fault.select is not None
    assert fault.select.among == ("n1", "n2")
    assert fault.process is None


def test_an_undeclared_process_in_among_points_at_its_entry(tmp_path: Path) -> None:
    fault = (
        "    fault:\n      type: process_pause\n      select:\n"
        "        command: [echo, n1]\n        among:\n          - n1\n          - ghost\n"
    )
    file, problems = problems_of(tmp_path, fault)
    assert [str(p) for p in problems] == [
        f"{file}:{FAULT_LINE + 6}: experiments[0].fault.select.among[1]: "
        "process 'ghost' is not defined (defined: n1, n2)"
    ]


def test_a_selector_url_off_loopback_needs_the_blast_radius(tmp_path: Path) -> None:
    fault = (
        "    fault:\n      type: process_restart\n      select:\n"
        "        http: http://10.9.8.7:2379/v3/maintenance/status\n"
    )
    file, problems = problems_of(tmp_path, fault)
    assert [str(p) for p in problems] == [
        f"{file}:{FAULT_LINE + 3}: experiments[0].fault.select.http: '10.9.8.7' is not on "
        "loopback; list it under blast_radius.hosts to allow it"
    ]
    loads(tmp_path, fault, "blast_radius: {hosts: [10.9.8.7]}\n")


@pytest.mark.parametrize(
    ("fault", "path", "message"),
    [
        (
            "{type: process_kill, process: n1, select: {command: [echo, n1]}}",
            "experiments[0].fault",
            "give exactly one target: process, pid, pid_file, pattern or select "
            "(got process, select)",
        ),
        (
            "{type: process_restart, process: n1, select: {command: [echo, n1]}}",
            "experiments[0].fault",
            "give exactly one target: process or select",
        ),
        (
            "{type: process_kill, select: {among: [n1]}}",
            "experiments[0].fault.select",
            "give exactly one of 'command' or 'http' to ask the system",
        ),
        (
            "{type: process_kill, select: {command: [echo], http: 'http://127.0.0.1:1/'}}",
            "experiments[0].fault.select",
            "give exactly one of 'command' or 'http' to ask the system",
        ),
        (
            "{type: process_kill, select: {command: []}}",
            "experiments[0].fault.select.command",
            "at least 1 item",
        ),
        (
            "{type: process_kill, select: {http: 'ftp://127.0.0.1/x'}}",
            "experiments[0].fault.select.http",
            "expected an http:// or https:// URL with a host",
        ),
        (
            "{type: process_kill, select: {command: [echo], pattern: '(unclosed'}}",
            "experiments[0].fault.select.pattern",
            "not a valid regular expression",
        ),
        (
            "{type: process_kill, select: {command: [echo], among: [n1, n1]}}",
            "experiments[0].fault.select",
            "'among' names a process twice",
        ),
        (
            "{type: process_kill, select: {command: [echo], timeout_s: 0}}",
            "experiments[0].fault.select.timeout_s",
            "greater than 0",
        ),
        (
            "{type: process_kill, select: {command: [echo], leader: yes}}",
            "experiments[0].fault.select.leader",
            "unknown key",
        ),
    ],
)
def test_select_mistakes_have_line_and_path(
    tmp_path: Path, fault: str, path: str, message: str
) -> None:
    file, problems = problems_of(tmp_path, f"    fault: {fault}\n")
    assert len(problems) == 1, problems
    assert str(problems[0]).startswith(f"{file}:{FAULT_LINE}: {path}: ")
    assert message in problems[0].message


def test_declared_ports_are_validated(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(
        HEAD.replace("ports: [7001]", "ports: [7001, 70000]")
        + "    fault: {type: down, proxy: a}\n"
    )
    with pytest.raises(SuiteError) as info:
        load_suite(file, env={})
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (13, "processes[0].ports[1]")
    assert "less than or equal to 65535" in problem.message


def test_latency_params_accept_proxies_and_describe_them() -> None:
    params = LatencyParams(latency_ms=50, proxies=("a", "b", "c"))
    assert params.proxy_text() == "a, b and c"
    assert params.proxy is None
