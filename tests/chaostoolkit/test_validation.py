"""Invalid experiments: every mistake as file:line: path: message, exit 2, no traceback,
including where Chaos Toolkit itself crashes (int("") for an empty default) or needs a
module that is not installed."""

from __future__ import annotations

from pathlib import Path

from ctk_support import EXPERIMENTS, run, write

from chaos_workbench.chaostoolkit import load_experiment


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    result = run(EXPERIMENTS / "invalid.yaml", tmp_path, {"PATH": "/usr/bin:/bin"})
    assert result.code == 2
    assert result.journal == {}
    assert result.out == ""
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    file = str(EXPERIMENTS / "invalid.yaml")
    expected = [
        (
            7,
            "configuration.port.default",
            "the default of CWB_TEST_UNSET_PORT is '', which is not a valid int",
        ),
        (11, "configuration.token.key", "environment variable CWB_TEST_UNSET_TOKEN is not set"),
        (15, "steady-state-hypothesis.probes[0]", "needs a tolerance"),
        (24, "steady-state-hypothesis.probes[1].tolerance.pattern", "invalid regular expression"),
        (
            33,
            "method[0].provider.module",
            "Python module 'chaosk8s.pod.actions' cannot be imported",
        ),
        (39, "method[1].provider.path", "'/no/such/binary' cannot be found"),
        (40, "method[2].ref", "no activity is named 'nowhere'"),
        (47, "method[3].provider.arguments", "missing a required argument: 'toxic_name'"),
        (50, "method[4].type", "Input should be 'probe' or 'action'"),
    ]
    for line, path, message in expected:
        assert any(
            text.startswith(f"{file}:{line}: {path}: ") and message in text for text in lines
        ), (line, path, message, lines)
    assert len(lines) == len(expected), lines


def test_json_experiments_get_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(
        '{\n  "title": "t",\n  "description": "d",\n  "method": [\n'
        '    {"type": "action", "name": "x",\n'
        '     "provider": {"type": "python", "module": "ctk_helpers", "func": "nope"}}\n  ]\n}\n'
    )
    result = run(path, tmp_path, {})
    assert result.code == 2
    assert result.err.strip() == (
        f"{path}:6: method[0].provider.func: module 'ctk_helpers' has no function 'nope' "
        "(activity 'x')"
    )


def test_missing_keys_and_syntax_errors(tmp_path: Path) -> None:
    no_method = write(tmp_path, "m.json", {"title": "t", "description": "d"})
    result = run(no_method, tmp_path, {})
    assert result.code == 2
    assert ": method: Field required" in result.err
    broken = tmp_path / "b.yaml"
    broken.write_text("title: t\nmethod: [\n")
    result = run(broken, tmp_path, {})
    assert result.code == 2
    assert result.err.startswith(f"{broken}:")
    assert "invalid YAML" in result.err


def test_controls_are_refused_rather_than_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.json",
        {
            "title": "t",
            "description": "d",
            "method": [],
            "controls": [
                {
                    "name": "safeguards",
                    "provider": {"type": "python", "module": "chaosaddons.controls.safeguards"},
                }
            ],
        },
    )
    result = run(path, tmp_path, {})
    assert result.code == 2
    assert "controls: controls are not supported" in result.err


def test_arguments_are_bound_to_the_function_signature(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.json",
        {
            "title": "t",
            "description": "d",
            "method": [
                {
                    "type": "action",
                    "name": "x",
                    "provider": {
                        "type": "python",
                        "module": "ctk_helpers",
                        "func": "constant",
                        "arguments": {"value": 1, "extra": 2},
                    },
                },
            ],
        },
    )
    result = run(path, tmp_path, {})
    assert result.code == 2
    assert "method[0].provider.arguments: the arguments do not fit constant()" in result.err


def test_env_var_types_are_converted_when_loading(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.json",
        {
            "title": "t",
            "description": "d",
            "method": [],
            "configuration": {
                "n": {"type": "env", "key": "N", "env_var_type": "int"},
                "j": {"type": "env", "key": "J", "env_var_type": "json"},
            },
        },
    )
    loaded = load_experiment(path, {"N": "42", "J": "[1, 2]"})
    assert loaded.configuration == {"n": 42, "j": [1, 2]}
    result = run(path, tmp_path, {"N": "forty-two", "J": "{"})
    assert result.code == 2
    assert (
        "configuration.n.key: environment variable N is 'forty-two', which is not a valid int"
        in result.err
    )
    assert (
        "configuration.j.key: environment variable J is '{', which is not a valid json"
        in result.err
    )
