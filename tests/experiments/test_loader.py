"""Loading suite files: every mistake as file:line: path: message, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from chaos_workbench.experiments.errors import Problem, SuiteError
from chaos_workbench.experiments.loader import load_suite, parse_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ImpactLevel

BASE = """\
service: orders
traffic:
  url: http://127.0.0.1:8080
  rate_per_s: 20
proxies:
  - name: db
    listen: 127.0.0.1:15432
    upstream: 127.0.0.1:5432
processes:
  - name: api
    command: [python, -m, http.server]
experiments:
  - name: slow-db
    fault:
      type: test_slow_link
      proxy: db
      latency_ms: 200
  - name: stop-api
    fault: {type: test_stop, process: api}
    expect: {max_impact: degraded, recovery_within_s: 5}
"""


def edit(text: str, line: int, new: str) -> str:
    """Replace 1-based ``line`` of ``text`` with ``new`` (which may span lines or be empty)."""
    lines = text.splitlines()
    lines[line - 1 : line] = new.splitlines()
    return "\n".join(lines) + "\n"


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def problems_of(path: Path) -> tuple[Problem, ...]:
    with pytest.raises(SuiteError) as info:
        load_suite(path, env={})
    return info.value.problems


def test_valid_suite_loads_into_typed_frozen_models(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(BASE)
    suite = load_suite(path, env={})
    assert suite.service == "orders"
    assert suite.traffic.rate_per_s == 20.0
    assert [e.name for e in suite.experiments] == ["slow-db", "stop-api"]
    assert suite.experiments[0].fault.type == "test_slow_link"
    assert suite.experiments[0].fault.references()[0].name == "db"
    assert suite.experiments[1].expect.max_impact is ImpactLevel.DEGRADED
    with pytest.raises(ValidationError):
        suite.service = "other"  # type: ignore[misc]


def test_same_suite_as_json_loads_identically(tmp_path: Path) -> None:
    yaml_path = tmp_path / "suite.yaml"
    yaml_path.write_text(BASE)
    json_path = tmp_path / "suite.json"
    json_path.write_text(json.dumps(yaml.safe_load(BASE), indent=2))
    assert load_suite(json_path, env={}) == load_suite(yaml_path, env={})


# (line to edit, replacement, path, message start, JSON needle (text, occurrence))
MISTAKES = {
    "unknown key": (
        4,
        "  rate_per_sec: 20",
        4,
        "traffic.rate_per_sec",
        "unknown key (did you mean 'rate_per_s'?)",
        ('"rate_per_sec"', 1),
    ),
    "wrong type": (
        4,
        "  rate_per_s: fast",
        4,
        "traffic.rate_per_s",
        "Input should be a valid number",
        ('"rate_per_s"', 1),
    ),
    "missing field": (
        17,
        "",
        14,
        "experiments[0].fault.latency_ms",
        "Field required",
        ('"fault"', 1),
    ),
    "unknown fault type": (
        15,
        "      type: test_slow_lnk",
        15,
        "experiments[0].fault.type",
        "unknown fault type 'test_slow_lnk' (known: ",
        ('"test_slow_lnk"', 1),
    ),
    "undefined proxy": (
        16,
        "      proxy: cache",
        16,
        "experiments[0].fault.proxy",
        "proxy 'cache' is not defined (defined: db)",
        ('"cache"', 1),
    ),
    "undefined process": (
        19,
        "    fault: {type: test_stop, process: worker}",
        19,
        "experiments[1].fault.process",
        "process 'worker' is not defined (defined: api)",
        ('"worker"', 1),
    ),
    "negative duration": (
        13,
        "  - name: slow-db\n    fault_s: -1",
        14,
        "experiments[0].fault_s",
        "Input should be greater than 0",
        ('"fault_s"', 1),
    ),
    "fault parameter out of range": (
        17,
        "      latency_ms: -5",
        17,
        "experiments[0].fault.latency_ms",
        "Input should be greater than 0",
        ('"latency_ms"', 1),
    ),
    "name used twice": (
        18,
        "  - name: slow-db",
        18,
        "experiments[1].name",
        "'slow-db' is used twice",
        ('"slow-db"', 2),
    ),
    "bad enum value": (
        20,
        "    expect: {max_impact: catastrophic}",
        20,
        "experiments[1].expect.max_impact",
        "Input should be 'none', 'degraded', 'partial_outage' or 'full_outage'",
        ('"catastrophic"', 1),
    ),
    "off-loopback target": (
        8,
        "    upstream: 10.1.2.3:5432",
        8,
        "proxies[0].upstream",
        "'10.1.2.3' is not on loopback; list it under blast_radius.hosts",
        ('"10.1.2.3:5432"', 1),
    ),
    "wrong type of a section": (
        9,
        "processes: 3\nunused_section:",
        9,
        "processes",
        "Input should be a valid tuple",
        ('"processes"', 1),
    ),
}


@pytest.mark.parametrize("kind", sorted(MISTAKES))
def test_each_mistake_in_yaml_has_file_line_and_path(tmp_path: Path, kind: str) -> None:
    edit_line, new, line, path, message, _ = MISTAKES[kind]
    text = edit(BASE, edit_line, new)
    if kind == "wrong type of a section":  # drop the process section's body with it
        text = text.replace("  - name: api\n    command: [python, -m, http.server]\n", "")
        text = text.replace("unused_section:\n", "")
        text = text.replace(
            "{type: test_stop, process: api}", "{type: test_slow_link, proxy: db, latency_ms: 1}"
        )
    file = tmp_path / "suite.yaml"
    file.write_text(text)
    problems = problems_of(file)
    assert len(problems) == 1, problems
    assert str(problems[0]).startswith(f"{file}:{line}: {path}: {message}")
    assert (problems[0].line, problems[0].path) == (line, path)


@pytest.mark.parametrize("kind", sorted(set(MISTAKES) - {"wrong type of a section"}))
def test_each_mistake_in_json_has_file_line_and_path(tmp_path: Path, kind: str) -> None:
    edit_line, new, _, path, message, (needle, occurrence) = MISTAKES[kind]
    text = json.dumps(yaml.safe_load(edit(BASE, edit_line, new)), indent=2)
    file = tmp_path / "suite.json"
    file.write_text(text)
    problems = problems_of(file)
    assert len(problems) == 1, problems
    line = line_of(text, needle, occurrence)
    assert str(problems[0]).startswith(f"{file}:{line}: {path}: {message}")


def test_missing_top_level_section_points_at_the_document(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(
        BASE.replace("service: orders\n", "# a comment\nservice: orders\n").replace(
            "traffic:\n  url: http://127.0.0.1:8080\n  rate_per_s: 20\n", ""
        )
    )
    (problem,) = problems_of(file)
    assert str(problem).startswith(f"{file}:2: ")
    assert "give exactly one of 'traffic' (HTTP) or 'probe'" in str(problem)


def test_every_mistake_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = BASE
    text = edit(text, 19, "    fault: {type: test_stop, process: worker}")
    text = edit(text, 17, "      latency_ms: -5")
    text = edit(text, 4, "  rate_per_s: fast\n  rate_per_sec: 3")
    text = edit(text, 1, "service: ''")
    file = tmp_path / "suite.yaml"
    file.write_text(text)
    problems = problems_of(file)
    assert [str(p) for p in problems] == [
        f"{file}:1: service: String should have at least 1 character",
        f"{file}:4: traffic.rate_per_s: Input should be a valid number, unable to parse string as a number",
        f"{file}:5: traffic.rate_per_sec: unknown key (did you mean 'rate_per_s'?)",
        f"{file}:18: experiments[0].fault.latency_ms: Input should be greater than 0",
        f"{file}:20: experiments[1].fault.process: process 'worker' is not defined (defined: api)",
    ]


def test_reference_checks_do_not_count_a_broken_entry_as_undefined(tmp_path: Path) -> None:
    # The proxy entry has a mistake, but its name still counts: only the mistake is reported.
    file = tmp_path / "suite.yaml"
    file.write_text(edit(BASE, 7, "    listen: nowhere"))
    (problem,) = problems_of(file)
    assert (problem.line, problem.path) == (7, "proxies[0].listen")
    assert "expected host:port" in problem.message


def test_names_defined_twice_point_at_the_second(tmp_path: Path) -> None:
    text = BASE.replace(
        "processes:\n",
        "  - name: db\n    listen: 127.0.0.1:15433\n    upstream: 127.0.0.1:5433\nprocesses:\n",
    )
    file = tmp_path / "suite.yaml"
    file.write_text(text)
    (problem,) = problems_of(file)
    assert str(problem) == f"{file}:9: proxies[1].name: 'db' is defined twice"


def test_blast_radius_allows_an_off_loopback_host(tmp_path: Path) -> None:
    text = edit(BASE, 8, "    upstream: 10.1.2.3:5432") + "blast_radius: {hosts: [10.1.2.3]}\n"
    file = tmp_path / "suite.yaml"
    file.write_text(text)
    assert load_suite(file, env={}).proxies[0].upstream == "10.1.2.3:5432"


def test_duplicate_yaml_key_is_a_problem(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(edit(BASE, 4, "  rate_per_s: 20\n  rate_per_s: 30"))
    (problem,) = problems_of(file)
    assert str(problem) == (
        f"{file}:5: traffic.rate_per_s: key 'rate_per_s' appears twice (first on line 4); "
        "the last one would win"
    )


def test_duplicate_json_key_is_a_problem(tmp_path: Path) -> None:
    data = yaml.safe_load(BASE)
    text = json.dumps(data, indent=2).replace(
        '"service": "orders",', '"service": "orders",\n  "service": "x",'
    )
    file = tmp_path / "suite.json"
    file.write_text(text)
    (problem,) = problems_of(file)
    assert str(problem).startswith(
        f"{file}:3: service: key 'service' appears twice (first on line 2)"
    )


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(edit(BASE, 16, "      proxy: [db"))
    (problem,) = problems_of(file)
    assert problem.path == ""
    assert problem.line == 17  # PyYAML notices the unclosed '[' on the next line
    assert str(problem).startswith(f"{file}:17: invalid YAML: ")


def test_json_syntax_error_has_its_line(tmp_path: Path) -> None:
    text = json.dumps(yaml.safe_load(BASE), indent=2)
    text = text.replace('"rate_per_s": 20', '"rate_per_s": 20,')
    file = tmp_path / "suite.json"
    file.write_text(text)
    (problem,) = problems_of(file)
    assert (
        str(problem)
        == f"{file}:{line_of(text, 'rate_per_s') + 1}: invalid JSON: Expecting property name enclosed in double quotes"
    )


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    (missing,) = problems_of(tmp_path / "nope.yaml")
    assert str(missing) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here\n")
    (problem,) = problems_of(empty)
    assert str(problem) == f"{empty}:1: the file is empty: expected a suite mapping"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    (problem,) = problems_of(binary)
    assert str(problem) == f"{binary}: not UTF-8 text"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text("\n- just\n- a list\n")
    (problem,) = problems_of(file)
    assert problem.line == 2
    assert "valid dictionary" in problem.message


# --- environment expansion -------------------------------------------------------------


def test_env_variables_and_defaults_expand_in_string_values() -> None:
    text = BASE.replace("http://127.0.0.1:8080", "http://127.0.0.1:${PORT}")
    text = text.replace("rate_per_s: 20", "rate_per_s: ${RATE:-25}")
    text = text.replace(
        "  - name: slow-db\n", "  - name: slow-db\n    description: 'costs $${DOLLARS}'\n"
    )
    suite = parse_suite(text, env={"PORT": "9090"})
    assert suite.traffic.url == "http://127.0.0.1:9090"
    assert suite.traffic.rate_per_s == 25.0
    assert suite.experiments[0].description == "costs ${DOLLARS}"
    # As in sh, ":-" also applies when the variable is set but empty.
    assert parse_suite(text, env={"PORT": "1", "RATE": ""}).traffic.rate_per_s == 25.0
    assert parse_suite(text, env={"PORT": "1", "RATE": "7"}).traffic.rate_per_s == 7.0


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWB_TEST_SERVICE", "from-env")
    suite = parse_suite(BASE.replace("service: orders", "service: ${CWB_TEST_SERVICE}"))
    assert suite.service == "from-env"


def test_unset_variable_is_one_problem_naming_it_and_its_line(tmp_path: Path) -> None:
    file = tmp_path / "suite.yaml"
    file.write_text(
        BASE.replace("rate_per_s: 20", "rate_per_s: ${RATE}").replace("db\n", "${DB_PROXY}\n", 1)
    )
    problems = problems_of(file)
    assert [str(p) for p in problems] == [
        f"{file}:4: traffic.rate_per_s: environment variable RATE is not set "
        "(set it, or give a default: ${RATE:-value})",
        f"{file}:6: proxies[0].name: environment variable DB_PROXY is not set "
        "(set it, or give a default: ${DB_PROXY:-value})",
    ]


def test_env_expansion_in_json_and_malformed_references(tmp_path: Path) -> None:
    data = yaml.safe_load(BASE)
    data["traffic"]["url"] = "http://127.0.0.1:${PORT:-8081}"
    data["experiments"][0]["description"] = "${not a name}"
    data["experiments"][1]["description"] = "unclosed ${"
    text = json.dumps(data, indent=2)
    file = tmp_path / "suite.json"
    file.write_text(text)
    problems = problems_of(file)
    assert [(p.line, p.path, p.message) for p in problems] == [
        (
            line_of(text, "not a name"),
            "experiments[0].description",
            "malformed variable reference '${not a name}'",
        ),
        (line_of(text, "unclosed"), "experiments[1].description", "'${' without a closing '}'"),
    ]
    del data["experiments"][0]["description"], data["experiments"][1]["description"]
    file.write_text(json.dumps(data))
    assert load_suite(file, env={}).traffic.url == "http://127.0.0.1:8081"


def test_yaml_anchors_and_merge_keys_are_followed(tmp_path: Path) -> None:
    text = (
        BASE.replace(
            "    fault:\n      type: test_slow_link\n      proxy: db\n      latency_ms: 200\n",
            "    fault: &slow {type: test_slow_link, proxy: db, latency_ms: 200}\n",
        )
        + "  - name: slower-db\n    fault: {<<: *slow, latency_ms: 0}\n"
    )
    file = tmp_path / "suite.yaml"
    file.write_text(text)
    (problem,) = problems_of(file)
    assert (problem.line, problem.path) == (19, "experiments[2].fault.latency_ms")


# --- the same checks when a suite is built in Python ------------------------------------


def test_suite_built_in_python_still_checks_references() -> None:
    data = yaml.safe_load(BASE)
    data["experiments"][0]["fault"]["proxy"] = "cache"
    data["proxies"][0]["upstream"] = "10.0.0.1:1"
    with pytest.raises(ValidationError) as info:
        Suite.model_validate(data)
    message = str(info.value)
    assert "experiments[0].fault.proxy: proxy 'cache' is not defined (defined: db)" in message
    assert "proxies[0].upstream: '10.0.0.1' is not on loopback" in message


@pytest.mark.parametrize("section", ["proxies", "processes", "experiments", "guardrails"])
@pytest.mark.parametrize("value", ["5", "'text'", "{a: 1}"])
def test_a_list_section_of_the_wrong_shape_is_a_problem_not_a_crash(
    tmp_path: Path, section: str, value: str
) -> None:
    text = BASE + f"{section}: {value}\n" if section == "guardrails" else BASE
    if section != "guardrails":
        start = line_of(text, f"{section}:")
        lines = text.splitlines()
        end = next(
            (n for n in range(start, len(lines)) if lines[n] and not lines[n].startswith(" ")),
            len(lines),
        )
        text = "\n".join([*lines[: start - 1], f"{section}: {value}", *lines[end:]]) + "\n"
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    problems = problems_of(path)
    assert any(p.path == section for p in problems), problems


def test_readiness_over_http_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    ready = "    ready: {http: 'ftp://127.0.0.1/x', status: [200, 700]}"
    path.write_text(edit(BASE, line_of(BASE, "command: [python"), ready))
    problems = problems_of(path)
    messages = {p.path: p.message for p in problems}
    assert "expected an http:// or https:// URL" in messages["processes[0].ready.http"]
    assert "100..599" in messages["processes[0].ready.status"]


def test_a_readiness_url_off_loopback_needs_the_blast_radius(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    ready = "    command: [python]\n    ready: {http: 'http://10.1.2.3:8080/ready'}"
    path.write_text(edit(BASE, line_of(BASE, "command: [python"), ready))
    problems = problems_of(path)
    assert [p.path for p in problems] == ["processes[0].ready.http"]
    assert "'10.1.2.3' is not on loopback" in problems[0].message
    assert problems[0].line == line_of(path.read_text(), "ready: {http")
    allowed = path.read_text() + "blast_radius: {hosts: [10.1.2.3]}\n"
    suite = parse_suite(allowed, env={})
    assert suite.processes[0].ready.http == "http://10.1.2.3:8080/ready"
    assert suite.processes[0].ready.status == (200,)
