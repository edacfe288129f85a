"""The loader never raises anything but ``SuiteError``, whatever bytes it is given.

Property-based (Hypothesis): random bytes, random YAML and JSON documents, and mutations of
the real suites (the example and the demo's) — byte flips, deletions, NULs, deep nesting,
tags, anchors and aliases, huge scalars, non-finite numbers, any value in any field, any
fault kind with any parameters. Then, exhaustively, one special value at a time in every
field (a validator only runs once the others passed, which random search seldom reaches),
and the real ``cwb validate`` in a subprocess on a handful of nasty files.

Each load either returns a ``Suite`` or raises ``SuiteError`` whose every problem starts
with the file name, within a CPU-time bound. Examples are bounded so the whole file runs in
about 15 s; the example database is off, so every run explores afresh (a failure prints
its example). Crashes found here have plain regression tests in
``test_suite_bounds.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos_workbench.experiments.errors import Problem, SuiteError
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.faults import registry as fault_registry

ROOT = Path(__file__).parents[2]
REAL_SUITES = (
    ROOT / "examples" / "suite.yaml",
    ROOT / "src" / "chaos_workbench" / "demo" / "suite.yaml",
)
SEEDS = tuple(path.read_bytes() for path in REAL_SUITES)
CPU_BOUND_S = 2.0  # per load; a real suite takes milliseconds
ENV = {"PORT": "8080", "EMPTY": ""}

FUZZ = settings(
    max_examples=150,
    deadline=None,  # wall time lies on a shared machine: CPU time is asserted instead
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Fragments that have broken YAML or JSON readers somewhere: tags (safe and unsafe),
# anchors and aliases, merge keys, deep or unclosed nesting, escapes for NUL and lone
# surrogates, huge numbers, non-finite numbers, variables, odd line breaks.
NASTY = (
    b"!!timestamp not-a-date",
    b"!!python/object/apply:os.system ['true']",
    b"!!python/name:os.system",
    b"!!binary \xc3\xbc",
    b"!!float abc",
    b"!!int 0x",
    b"!!set {a, b}",
    b"!!omap [a: 1]",
    b"!!str",
    b"!<tag:yaml.org,2002:map> x",
    b"&a [*a]",
    b"&x",
    b"*x",
    b"*undefined",
    b"<<: *x",
    b"<<: [1, 2]",
    b"? [a, b]\n: 1",
    b"{" * 150,
    b"[" * 150 + b"]" * 150,
    b"- " * 150,
    b'"\\0"',
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b"\\u0000",
    b"9" * 5000,
    b"1" + b":0" * 3000,
    b"-" + b"1" * 5000 + b".5e999",
    b"1e999",
    b".inf",
    b"-.inf",
    b".nan",
    b"NaN",
    b"Infinity",
    b"${",
    b"${UNSET}",
    b"${PORT:-}",
    b"$${PORT}",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\r",
    b"\x85",
    b"\xe2\x80\xa8",
    b"\t",
    b"%YAML 1.1\n---\n",
    b"---\n...\n---\n",
    b"x" * 20_000,
    b"name: ../../../escaped",
    b"service: x/../../../escaped",
    b"fault_s: .inf",
)


def check_load(data: bytes, suffix: str, workdir: Path) -> Suite | None:
    """Load ``data`` as a suite file; the property every input must have."""
    path = workdir / f"fuzz{suffix}"
    path.write_bytes(data)
    started = time.process_time()
    suite: Suite | None = None
    problems: tuple[Problem, ...] = ()
    try:
        suite = load_suite(path, env=ENV)
    except SuiteError as exc:  # anything else fails the test, with its traceback
        problems = exc.problems
    cpu_s = time.process_time() - started
    assert cpu_s < CPU_BOUND_S, f"{cpu_s:.2f} s of CPU for {len(data)} bytes"
    assert (suite is None) == bool(problems)
    for problem in problems:
        assert str(problem).startswith(f"{path}: ") or str(problem).startswith(
            f"{path}:{problem.line}: "
        )
    return suite


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


SUFFIXES = st.sampled_from([".yaml", ".json"])


@FUZZ
@given(data=st.binary(max_size=2000), suffix=SUFFIXES)
def test_random_bytes(data: bytes, suffix: str, workdir: Path) -> None:
    check_load(data, suffix, workdir)


@FUZZ
@given(text=st.text(max_size=500), suffix=SUFFIXES)
def test_random_text(text: str, suffix: str, workdir: Path) -> None:
    check_load(text.encode("utf-8", "surrogatepass"), suffix, workdir)


# -- documents: valid YAML/JSON of any shape, keys from the suite format ------------------

SUITE_KEYS = [
    *("service", "traffic", "probe", "slo", "impact", "proxies", "processes", "defaults"),
    *("blast_radius", "guardrails", "experiments", "name", "fault", "type", "proxy"),
    *("process", "url", "rate_per_s", "latency_ms", "duration_s", "fault_s", "listen"),
    *("upstream", "command", "pid_file", "ready", "port", "timeout_s", "expect", "weight"),
    *("kind", "success_ratio", "p99_ms", "hosts", "paths", "process_patterns", "pattern"),
    *("pid", "toxic", "attributes", "json", "max_impact"),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["127.0.0.1:1", "http://127.0.0.1:1", "db", "latency", "../..", "x" * 300]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(SUITE_KEYS), st.text(max_size=10)), children),
    ),
    max_leaves=40,
)


@FUZZ
@given(doc=documents)
def test_random_json_documents(doc: object, workdir: Path) -> None:
    text = json.dumps(doc)  # NaN and Infinity included: Python's json reads them
    check_load(text.encode("utf-8", "surrogatepass"), ".json", workdir)


@FUZZ
@given(doc=documents)
def test_random_yaml_documents(doc: object, workdir: Path) -> None:
    text = yaml.safe_dump(doc, allow_unicode=False)
    check_load(text.encode("utf-8", "surrogatepass"), ".yaml", workdir)


# -- the real suites, mutated --------------------------------------------------------------


def _mutate(seed: bytes, edits: list[tuple[int, int, int, bytes]]) -> bytes:
    out = bytearray(seed)
    for kind, where, byte, fragment in edits:
        at = where % (len(out) + 1)
        if kind == 0 and at < len(out):  # flip bits of one byte
            out[at] ^= byte or 1
        elif kind == 1:  # delete a short run
            del out[at : at + byte % 16 + 1]
        elif kind == 2:  # insert a nasty fragment
            out[at:at] = fragment
        else:  # insert one byte (NUL among them)
            out[at:at] = bytes([byte])
    return bytes(out)


edits = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 10_000),
        st.integers(0, 255),
        st.sampled_from(NASTY),
    ),
    min_size=1,
    max_size=6,
)


@FUZZ
@given(seed=st.sampled_from(SEEDS), changes=edits)
def test_mutated_real_suites(
    seed: bytes, changes: list[tuple[int, int, int, bytes]], workdir: Path
) -> None:
    check_load(_mutate(seed, changes), ".yaml", workdir)


JSON_SEEDS = tuple(json.dumps(yaml.safe_load(seed), indent=1).encode() for seed in SEEDS)


@FUZZ
@given(seed=st.sampled_from(JSON_SEEDS), changes=edits)
def test_mutated_real_suites_as_json(
    seed: bytes, changes: list[tuple[int, int, int, bytes]], workdir: Path
) -> None:
    check_load(_mutate(seed, changes), ".json", workdir)


Path_ = tuple[object, ...]


def _paths(node: object, path: Path_ = ()) -> list[Path_]:
    """Every location in a document, the root and inner nodes included."""
    found = [path]
    if isinstance(node, dict):
        found += [p for k, v in node.items() for p in _paths(v, (*path, k))]
    elif isinstance(node, list):
        found += [p for i, v in enumerate(node) for p in _paths(v, (*path, i))]
    return found


def _change(node: object, path: Path_, change: Callable[[object], object]) -> object:
    if not path:
        return change(node)
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (_change(v, rest, change) if k == head else v) for k, v in node.items()}
    assert isinstance(node, list)
    return [_change(v, rest, change) if i == head else v for i, v in enumerate(node)]


def _set(key: str, value: object) -> Callable[[object], object]:
    """Add or replace ``key`` in a mapping; anything else is replaced by ``value``."""
    return lambda node: {**node, key: value} if isinstance(node, dict) else value


PARSED = tuple(yaml.safe_load(seed) for seed in SEEDS)

# Values that have broken validators somewhere: regexes that do not compile (or overflow,
# or recurse), NUL, lone surrogates, path tricks, huge and non-finite numbers, wrong shapes.
SPECIAL_VALUES = tuple(
    [
        "a{99999999999}",
        "(" * 3000 + ")" * 3000,
        "[",
        "\x00",
        "a\x00b",
        "\ud800",
        "\u202e",
        "line\nbreak",
        "x" * 300,
        "x/../../../escaped",
        ".",
        "..",
        "",
        " ",
        "${UNSET}",
        "SIGKILL",
        "127.0.0.1:99999",
        "127.0.0.1:" + "9" * 5000,
        "http://",
        "postgresql://x",
        "/tmp",
        2**64,
        10**400,
        -1,
        0,
        1e308,
        -0.0,
        float("nan"),
        float("inf"),
        float("-inf"),
        [],
        {},
        [None],
        {"type": "latency"},
    ]
)
SPECIAL = st.sampled_from(SPECIAL_VALUES)
values = scalars | SPECIAL | documents
changes = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(SUITE_KEYS) | st.text(max_size=8), values),
    min_size=1,
    max_size=4,
)


def _dump(doc: object, as_json: bool) -> bytes:
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=False)
    return text.encode("utf-8")


@FUZZ
@given(which=st.sampled_from(range(len(PARSED))), picks=changes, as_json=st.booleans())
def test_real_suites_with_values_replaced(
    which: int, picks: list[tuple[int, str, object]], as_json: bool, workdir: Path
) -> None:
    """Every field of the real suites, given values of the wrong type, size or sign, and
    keys added where they do or do not belong."""
    doc: object = PARSED[which]
    for index, key, value in picks:
        paths = _paths(doc)
        doc = _change(doc, paths[index % len(paths)], _set(key, value))
    check_load(_dump(doc, as_json), ".json" if as_json else ".yaml", workdir)


KINDS = fault_registry.all_kinds()


@st.composite
def fault_mappings(draw: st.DrawFn) -> dict[str, object]:
    """A fault of a registered kind with some of its own parameters, any values."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    fields = sorted(KINDS[kind].params_model.model_fields)
    params = draw(st.dictionaries(st.sampled_from(fields), SPECIAL | values, max_size=5))
    return {**params, "type": kind}


@FUZZ
@given(
    fault=fault_mappings(),
    patterns=st.lists(SPECIAL | st.text(max_size=10), max_size=3),
    as_json=st.booleans(),
)
def test_every_fault_kind_with_any_parameters(
    fault: dict[str, object], patterns: list[object], as_json: bool, workdir: Path
) -> None:
    example = PARSED[0]
    assert isinstance(example, dict)
    doc = {
        **example,
        "experiments": [{"name": "fuzzed", "fault": fault}],
        "blast_radius": {"process_patterns": patterns},
    }
    check_load(_dump(doc, as_json), ".json" if as_json else ".yaml", workdir)


def test_the_real_suites_load_unmutated(workdir: Path) -> None:
    for seed in SEEDS:
        assert isinstance(check_load(seed, ".yaml", workdir), Suite)


# -- one special value at a time, everywhere (exhaustive: random search rarely gets there) --

MINIMAL = {
    "service": "s",
    "traffic": {"url": "http://127.0.0.1:1"},
    "proxies": [{"name": "db", "listen": "127.0.0.1:2", "upstream": "127.0.0.1:3"}],
    "processes": [{"name": "api", "command": ["true"]}],
    "experiments": [],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_fault_parameter_with_each_special_value(kind: str, workdir: Path) -> None:
    """A validator only runs when the others passed: so one parameter at a time, alone.
    (Found: ``pattern: "a{99999999999}"`` raised OverflowError out of the loader.)"""
    for field in sorted(KINDS[kind].params_model.model_fields):
        for value in SPECIAL_VALUES:
            doc = {**MINIMAL, "experiments": [{"name": "x", "fault": {"type": kind, field: value}}]}
            check_load(_dump(doc, as_json=True), ".json", workdir)


def test_each_suite_field_with_each_special_value(workdir: Path) -> None:
    seen: set[Path_] = set()  # one of each shape: experiments[3].name is like [0].name
    for parsed in PARSED:
        for path in _paths(parsed)[1:]:
            shape = tuple(0 if isinstance(part, int) else part for part in path)
            if shape in seen:
                continue
            seen.add(shape)
            for value in SPECIAL_VALUES:
                doc = _change(parsed, path, lambda _, v=value: v)
                check_load(_dump(doc, as_json=True), ".json", workdir)


def test_each_section_with_each_special_key(workdir: Path) -> None:
    """Keys a section does not have (or does), with special values: blast_radius patterns."""
    parsed = PARSED[0]
    sections = [p for p in _paths(parsed) if isinstance(_at(parsed, p), dict)]
    shapes = {tuple(0 if isinstance(part, int) else part for part in p): p for p in sections}
    sections = list(shapes.values())
    for path in sections:
        for key in ("process_patterns", "paths", "pattern", "name", "seed"):
            for value in (*SPECIAL_VALUES, list(SPECIAL_VALUES[:3])):
                doc = _change(parsed, path, _set(key, value))
                check_load(_dump(doc, as_json=True), ".json", workdir)


def _at(node: object, path: Path_) -> object:
    for part in path:
        node = node[part]  # type: ignore[index]
    return node


# -- the real CLI: exit 0 or 2, never a traceback -----------------------------------------

CLI = "from chaos_workbench.cli import main; main()"


def test_validate_answers_nasty_files_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    nasty = {
        "bytes.yaml": b"\x00\xff\xfe garbage \x80",
        "tags.yaml": b"service: !!python/object/apply:os.system ['echo pwned']\n",
        "recursive.yaml": b"a: &a [*a]\nservice: *a\n",
        "deep.json": b'{"service": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "hugeint.json": b'{"service": "s", "seed": ' + b"9" * 5000 + b"}",
        "hugeint.yaml": b"service: s\nseed: " + b"9" * 5000 + b"\n",
        "surrogate.json": b'{"\\ud800": 1, "service": "\\udc00"}',
        "nul.json": b'{"service": "a\\u0000b"}',
        "inf.yaml": SEEDS[0].replace(b"service: order-service", b"service: s\nseed: 1")
        + b"\ndefaults: {fault_s: .inf}\n",
        "escape.yaml": SEEDS[0].replace(b"order-service", b"x/../../../escaped" + b"x" * 300),
        "list.yaml": b"- a\n- b\n",
        "bom.yaml": b"\xef\xbb\xbf\xef\xbb\xbf",
    }
    paths = []
    for name, data in nasty.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "validate", *paths],
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    for path in paths:  # every file answered, each problem line naming its file
        assert f"{path}:" in stderr, path
    assert all(line.startswith(tuple(paths)) for line in stderr.splitlines()), stderr
    assert proc.stdout == b""


def test_validate_still_exits_0_on_the_real_suites() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "validate", *map(str, REAL_SUITES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
