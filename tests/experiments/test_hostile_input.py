"""A suite file may come from anyone (a pull request): every bound of ``chaos_workbench.limits``
answers at once with ``file:line`` and exit 2 — never a hang, a traceback or gigabytes.

Time is measured as this process's CPU time (``time.process_time``), which other work on a
shared machine does not inflate; memory as tracemalloc's peak.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import load_suite, parse_suite
from chaos_workbench.limits import (
    MAX_DEPTH,
    MAX_SUITE_BYTES,
    MAX_SUITE_VALUES,
    json_depth_exceeds,
)

CLI = "from chaos_workbench.experiments.cli import app; app()"


def billion_laughs() -> str:
    """Ten anchors, each a list of ten aliases of the previous: 10^10 values expanded."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("service: *a9")
    return "\n".join(lines) + "\n"


def problems(text: str, *, json_format: bool = False) -> list[str]:
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, file="s.yaml", json_format=json_format, env={})
    return [str(p) for p in caught.value.problems]


def test_alias_bomb_is_refused_in_bounded_time_and_memory() -> None:
    text = billion_laughs()
    tracemalloc.start()
    started = time.process_time()
    try:
        found = problems(text)
        cpu_s = time.process_time() - started
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == [
        f"s.yaml:1: invalid YAML: more than {MAX_SUITE_VALUES:,} values once aliases are "
        "expanded (the limit; nested aliases multiply)"
    ]
    assert cpu_s < 1.0, cpu_s  # measured here: 0.35 s (it used to run for minutes)
    assert peak_bytes < 64 * 1024 * 1024, peak_bytes  # measured: 7.5 MB (it used gigabytes)


def test_aliases_within_the_bound_are_still_expanded() -> None:
    """The bound counts expanded values; a suite sharing a block by alias still loads."""
    text = (
        "service: s\n"
        'traffic: {url: "http://127.0.0.1:1"}\n'
        'proxies: [{name: db, listen: "127.0.0.1:2", upstream: "127.0.0.1:3"}]\n'
        "experiments:\n"
        "  - {name: one, fault: &fault {type: test_slow_link, proxy: db, latency_ms: 5}}\n"
        "  - {name: two, fault: *fault}\n"
    )
    suite = parse_suite(text, file="s.yaml", env={})
    assert suite.experiments[0].fault == suite.experiments[1].fault


@pytest.mark.parametrize(
    ("text", "json_format", "line"),
    [
        ("service: " + "[" * 100_000 + "]" * 100_000 + "\n", False, 1),
        ("service: s\nx: " + "{a: " * 600 + "1" + "}" * 600 + "\n", False, 2),
        ('{"service": ' + "[" * 100_000 + "]" * 100_000 + "}", True, None),
    ],
    ids=["yaml-flow-100000", "yaml-flow-mapping-600", "json-100000"],
)
def test_deep_nesting_is_refused_naming_the_limit(
    text: str, json_format: bool, line: int | None
) -> None:
    started = time.process_time()
    found = problems(text, json_format=json_format)
    assert time.process_time() - started < 1.0
    kind = "JSON" if json_format else "YAML"
    where = "s.yaml" if line is None else f"s.yaml:{line}"
    assert found == [
        f"{where}: invalid {kind}: nested more than {MAX_DEPTH} levels deep (the limit)"
    ]


def test_block_nesting_is_bounded_too() -> None:
    lines = ["service: s", "x:"]
    lines += [" " * (2 * depth) + "a:" for depth in range(1, 150)]
    lines[-1] += " 1"
    (found,) = problems("\n".join(lines) + "\n")
    assert "nested more than 100 levels deep (the limit)" in found


def test_nesting_at_the_limit_is_read() -> None:
    """One level under the bound parses; validation then speaks of the value, not the depth."""
    value = "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)
    found = problems(f"service: s\nx: {value}\n")
    assert not any("levels deep" in p for p in found), found
    assert any(p.startswith("s.yaml:2: x: unknown key") for p in found), found


def test_json_depth_scan_ignores_brackets_inside_strings() -> None:
    assert not json_depth_exceeds('{"a": "' + "[" * 500 + '"}', 10)
    assert json_depth_exceeds("[" * 11 + "]" * 11, 10)
    assert not json_depth_exceeds("[" * 10 + "]" * 10, 10)
    assert not json_depth_exceeds('["\\"[[[[[[[[[[[[", 1]', 2)  # an escaped quote in a string


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'service: s\nx: "a\x00b"\n',
            "s.yaml:2: invalid YAML: character U+0000 is not allowed in YAML "
            "(control characters such as NUL cannot appear, even quoted)",
        ),
        (
            "service: s\nwhen: !!timestamp not-a-date\n",
            "s.yaml:2: invalid YAML: 'not-a-date' is not a valid !!timestamp",
        ),
        ("service: s\nn: !!float abc\n", "s.yaml:2: invalid YAML: 'abc' is not a valid !!float"),
    ],
    ids=["nul", "timestamp", "float"],
)
def test_unreadable_values_are_problems_with_their_line(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_oversized_files_and_endless_devices_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("service: s\n" + "#" * MAX_SUITE_BYTES + "\n")
    for path in (big, Path("/dev/zero")):
        with pytest.raises(SuiteError) as caught:
            load_suite(path, env={})
        assert [str(p) for p in caught.value.problems] == [
            f"{path}: larger than 4 MiB, the limit for a suite file"
        ]


def test_validate_answers_a_bomb_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "validate", str(bomb)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Interpreter start-up and imports included; the bound is what a user would notice.
    assert time.monotonic() - started < 15
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{bomb}:1: invalid YAML: more than 50,000 values")


def test_an_unparsable_url_host_is_a_problem_not_a_crash() -> None:
    """`urlsplit("http://[a: 1]").hostname` raises; the outline of a bad file must not."""
    found = problems('service: s\ntraffic: {url: "http://[a: 1]/x"}\nexperiments: []\n')
    assert "s.yaml:2: traffic.url: 'a: 1' does not appear to be an IPv4 or IPv6 address" in found
