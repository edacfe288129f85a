"""What validation refuses so that the run never has to: names that would leave their
directory, numbers a timer or a file system cannot take, and the inputs that made the
loader raise something other than ``SuiteError`` or spin for minutes (each found by
``test_fuzz_loader.py`` or while writing it, each fixed, each pinned here)."""

from __future__ import annotations

import json
import time
import typing
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import load_suite, parse_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.faults import registry as fault_registry

SUITE = """\
service: {service}
traffic: {{url: "http://127.0.0.1:1"}}
proxies: [{{name: {proxy}, listen: "127.0.0.1:2", upstream: "127.0.0.1:3"}}]
processes: [{{name: {process}, command: ["true"]}}]
experiments:
  - name: {experiment}
    fault: {{type: latency, proxy: {proxy}, latency_ms: 5}}
"""


def suite_text(**fields: str) -> str:
    names = {"service": "s", "proxy": "db", "process": "api", "experiment": "e", **fields}
    return SUITE.format(**names)


def problems(text: str, *, json_format: bool = False) -> list[str]:
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, file="s.yaml", json_format=json_format, env={})
    return [str(p) for p in caught.value.problems]


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["kill-db", "db latency 500ms", "'payments: 80% 503'", "'x/../../../escaped'", "Zahlungen 💳"],
)
def test_labels_are_free_text(name: str) -> None:
    """Service and experiment names are for people; where they name a file, they are mapped."""
    suite = parse_suite(suite_text(service=name, experiment=name), env={})
    assert suite.service == suite.experiments[0].name == name.strip("'")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ('"' + "x" * 129 + '"', "String should have at most 128 characters"),
        ('"a\\nb"', "control character U+000A is not allowed in a name"),
        ('"\\e[31mred"', "control character U+001B is not allowed in a name"),
        ('"evil\\u202etxt.exe"', "control character U+202E is not allowed in a name"),
        ('"   "', "expected a name with at least one visible character"),
    ],
)
def test_labels_are_one_printable_line_of_at_most_128_characters(name: str, expected: str) -> None:
    for field in ("service", "experiment"):
        found = problems(suite_text(**{field: name}))
        path = "service" if field == "service" else "experiments[0].name"
        line = 1 if field == "service" else 6
        assert any(p.startswith(f"s.yaml:{line}: {path}: {expected}") for p in found), found


@pytest.mark.parametrize("name", ["db", "db.primary_1-x", "_x", "A" * 64])
def test_identifiers_may_use_letters_digits_and_three_marks(name: str) -> None:
    suite = parse_suite(suite_text(proxy=name, process=name), env={})
    assert suite.proxies[0].name == suite.processes[0].name == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("..", "it starts with '.'"),
        (".hidden", "it starts with '.'"),
        ("-rf", "it starts with '-'"),
        ("a/b", "'/' is not allowed"),
        ('"a b"', "' ' is not allowed"),
        ("é", "'é' is not allowed"),
    ],
)
def test_identifiers_that_could_leave_a_directory_are_refused(name: str, why: str) -> None:
    found = problems(suite_text(proxy=name, process=name))
    for path, line in (("proxies[0].name", 3), ("processes[0].name", 4)):
        assert any(
            p.startswith(f"s.yaml:{line}: {path}: expected 1 to 64 letters, digits") and why in p
            for p in found
        ), found


def test_identifiers_are_at_most_64_characters() -> None:
    found = problems(suite_text(process="p" * 65))
    assert "s.yaml:4: processes[0].name: String should have at most 64 characters" in found


def test_nul_cannot_reach_a_path_an_argument_or_the_environment() -> None:
    text = suite_text().replace('command: ["true"]', 'command: ["a\\0b"], env: {"A=B": x}')
    text += "blast_radius: {paths: ['/tmp\\0x']}\n"
    found = problems(text.replace("'", '"'))
    assert any("processes[0].command[0]: NUL (U+0000) cannot appear" in p for p in found), found
    assert any("processes[0].env.A=B: expected an environment variable name" in p for p in found), (
        found
    )
    assert any("blast_radius.paths[0]: NUL (U+0000) cannot appear" in p for p in found), found


# -- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "path", "expected"),
    [
        ("defaults: {fault_s: .inf}", "defaults.fault_s", "Input should be a finite number"),
        ("defaults: {fault_s: .nan}", "defaults.fault_s", "Input should be a finite number"),
        (
            "defaults: {fault_s: 86401}",
            "defaults.fault_s",
            "Input should be less than or equal to 86400",
        ),
        ("slo: {success_ratio: .nan}", "slo.success_ratio", "Input should be a finite number"),
        ("slo: {p99_ms: 1e300}", "slo.p99_ms", "Input should be less than or equal to 3600000"),
        (
            "guardrails: [{p99_ms_above: -.inf}]",
            "guardrails[0].p99_ms_above",
            "Input should be a finite number",
        ),
    ],
)
def test_numbers_are_finite_and_bounded(snippet: str, path: str, expected: str) -> None:
    found = problems(suite_text() + snippet + "\n")
    assert any(p.endswith(f": {path}: {expected}") for p in found), found


def test_fault_parameters_are_finite_and_bounded_too() -> None:
    text = suite_text().replace("latency_ms: 5}", "latency_ms: 5, duration_s: .inf, ttl_s: 1e9}")
    found = problems(text)
    assert "s.yaml:7: experiments[0].fault.duration_s: Input should be a finite number" in found
    assert (
        "s.yaml:7: experiments[0].fault.ttl_s: Input should be less than or equal to 86400" in found
    )


def test_nan_in_free_form_json_is_refused() -> None:
    text = suite_text().replace(
        'traffic: {url: "http://127.0.0.1:1"}',
        'traffic: {url: "http://127.0.0.1:1", requests: [{method: POST, json: {a: [1, .nan]}}]}',
    )
    (found,) = problems(text)
    assert found == (
        "s.yaml:2: traffic.requests[0].json: NaN and Infinity are not JSON (at a[1]): "
        "give a finite number"
    )


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            stack.extend(typing.get_args(annotation))
            is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
            if is_model and annotation not in seen:
                _models(annotation, seen)
    return seen


def _all_models() -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    _models(Suite, seen)
    for fault in fault_registry.all_kinds().values():
        # The built-in kinds: not those that tests register (conftest.py files).
        if fault.params_model.__module__.startswith("chaos_workbench."):
            _models(fault.params_model, seen)
    return seen


UNBOUNDED_ON_PURPOSE = {"Suite.seed"}  # any integer seeds Python's RNG


def test_every_number_in_a_suite_is_finite_and_bounded() -> None:
    """Every float and int field, found by walking the models (new ones included)."""
    checked, loose = [], []
    for model in _all_models():
        for name, field in model.model_fields.items():
            numeric = any(t in str(field.annotation) for t in ("float", "int"))
            if not numeric or f"{model.__name__}.{name}" in UNBOUNDED_ON_PURPOSE:
                continue
            # The field's own constraints (Field(gt=...)) live beside its annotation.
            annotation = field.annotation
            if field.metadata:
                annotation = Annotated[annotation, *field.metadata]
            adapter = TypeAdapter(annotation)
            for value in (float("inf"), float("-inf"), float("nan"), 1e300, 10**30):
                try:
                    adapter.validate_python(value)
                except ValidationError:
                    continue
                loose.append(f"{model.__name__}.{name} accepts {value!r}")
            checked.append(name)
    assert len(checked) > 40  # the walk found the fields
    assert loose == []


# -- loader crashes and slow paths (found by fuzzing) -------------------------------------


def test_a_json_integer_past_pythons_digit_limit_is_a_problem_not_a_crash() -> None:
    """Was ValueError out of ``json.loads`` (Python refuses int() of 4,301+ digits)."""
    text = '{"service": "s",\n "seed": ' + "9" * 5000 + "}"
    assert problems(text, json_format=True) == [
        "s.yaml:2: invalid JSON: an integer has more than 4,300 digits (the limit)"
    ]


def test_a_yaml_base_60_integer_is_bounded_before_it_costs_quadratic_time() -> None:
    """YAML 1.1 reads ``1:0:0:...`` as base 60: a 4 MiB one would take minutes of CPU."""
    started = time.process_time()
    found = problems("service: s\nseed: 1" + ":0" * 1_000_000 + "\n")
    assert time.process_time() - started < 3.0
    assert found == ["s.yaml:2: invalid YAML: an integer has more than 4,300 digits (the limit)"]


@pytest.mark.parametrize("pattern", ["a{99999999999}", "(" * 5000 + ")" * 5000])
def test_a_regex_that_overflows_or_recurses_is_a_problem_not_a_crash(pattern: str) -> None:
    """Was OverflowError / RecursionError out of the loader (only re.error was caught)."""
    text = suite_text().replace(
        "fault: {type: latency, proxy: db, latency_ms: 5}",
        f"fault: {{type: process_kill, pattern: {json.dumps(pattern)}}}",
    )
    text += f"blast_radius: {{process_patterns: [{json.dumps(pattern)}]}}\n"
    found = problems(text)
    assert any(
        p.startswith("s.yaml:7: experiments[0].fault: pattern is not a valid regular expression")
        for p in found
    ), found
    assert any(p.startswith("s.yaml:8: blast_radius.process_patterns: ") for p in found), found


def test_a_process_pattern_that_does_not_compile_is_refused_at_load() -> None:
    """It used to pass validation and fail when the fault's target was checked."""
    found = problems(suite_text() + "blast_radius: {process_patterns: ['(']}\n")
    assert found == [
        "s.yaml:8: blast_radius.process_patterns: '(' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0"
    ]


@pytest.mark.parametrize(
    ("text", "json_format", "expected"),
    [
        (
            '{"service": "s",\n "\\ud800": 1}',
            True,
            "s.yaml:2: invalid JSON: \\ud800 is half of a UTF-16 surrogate pair",
        ),
        (
            '{"service": "\\udc00"}',
            True,
            "s.yaml:1: invalid JSON: \\udc00 is half of a UTF-16 surrogate pair",
        ),
        (
            'service: s\nx: "a\\ud800"\n',
            False,
            "s.yaml:2: invalid YAML: \\ud800 is half of a UTF-16 surrogate pair",
        ),
    ],
)
def test_a_lone_surrogate_is_a_problem_at_its_line(
    text: str, json_format: bool, expected: str
) -> None:
    """It is not a character: no file, terminal or database takes it (the JSON key was
    reported as "unable to parse raw data as a unicode string", without a line)."""
    (found,) = problems(text, json_format=json_format)
    assert found.startswith(expected), found


@pytest.mark.parametrize(
    ("text", "json_format", "expected"),
    [
        ("service: [" + "1," * 1_900_000 + "]\n", False, "s.yaml:1: invalid YAML: more than"),
        ("service:\n" + "- 1\n" * 1_000_000, False, "s.yaml:50000: invalid YAML: more than"),
        ('{"s": [' + "1," * 1_900_000 + "1]}", True, "s.yaml:1: invalid JSON: more than 50,000"),
    ],
    ids=["yaml-flow", "yaml-block", "json"],
)
def test_too_many_values_are_refused_while_reading(
    text: str, json_format: bool, expected: str
) -> None:
    """The value bound held only after PyYAML had built every node: 50 s of CPU for a 4 MiB
    flow list (JSON had no bound at all). Now reading stops at the bound."""
    started = time.process_time()
    (found,) = problems(text, json_format=json_format)
    assert time.process_time() - started < 3.0  # measured: about 1 s (was 50 s, 26 s, 4 s)
    assert found.startswith(expected), found


def test_an_aliased_long_string_counts_its_text_each_time() -> None:
    """A 3 MB scalar aliased 40,000 times is 120 GB of text: it took 100 s to refuse."""
    text = "x: &a " + "a" * 3_000_000 + "\ny: [" + "*a," * 40_000 + "]\n"
    started = time.process_time()
    (found,) = problems(text)
    assert time.process_time() - started < 3.0
    assert found == (
        "s.yaml:1: invalid YAML: more than 4 MiB of text once aliases are expanded "
        "(the limit for a suite file)"
    )


def test_a_huge_yaml_scalar_is_shown_cut_short() -> None:
    (found,) = problems("service: s\nx: !!float " + "z" * 5000 + "\n")
    assert found == f"s.yaml:2: invalid YAML: {'z' * 60!r}… is not a valid !!float"


def test_load_suite_answers_every_nasty_file_with_suite_error(tmp_path: Path) -> None:
    for name, data in {
        "a.json": b'{"service": 1' + b"0" * 5000 + b"}",
        "b.yaml": b"!!python/object/apply:os.system ['true']\n",
        "c.yaml": b"a: &a [*a]\n",
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(SuiteError) as caught:
            load_suite(path, env={})
        assert all(str(p).startswith(f"{path}:") for p in caught.value.problems)
