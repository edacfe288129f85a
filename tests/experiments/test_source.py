"""The position-tracking readers: same values as the standard parsers, right lines."""

from __future__ import annotations

import json
import math

import pytest

from chaos_workbench.experiments._source import expand_env, parse_json, parse_yaml

JSON_SAMPLES = [
    '{"a": 1e5, "b": -0.5E-3, "c": 12345678901234567890, "d": [], "e": {}, "f": [[], [{}]]}',
    '{"s": "tab\\t nl\\n quote\\" uni\\u00e9 surrogate\\ud83d\\ude00 slash\\/"}',
    "  [ true , false , null , 0 , -0 , 1.5 ]  ",
    '{"nested": {"deeper": {"deepest": [1, {"x": "y"}]}}}',
    '"just a string"',
    '\n\r\n\t{"crlf":\r\n 1}\n',
]


@pytest.mark.parametrize("text", JSON_SAMPLES)
def test_json_values_equal_the_standard_library(text: str) -> None:
    assert parse_json(text, {}).data == json.loads(text)


def test_json_special_numbers_match_too() -> None:
    data = parse_json('{"a": NaN, "b": Infinity, "c": -Infinity}', {}).data
    assert isinstance(data, dict)
    assert math.isnan(data["a"])
    assert (data["b"], data["c"]) == (math.inf, -math.inf)


def test_json_numbers_are_json_numbers_not_yaml_1_1_strings() -> None:
    # PyYAML (YAML 1.1) reads 1e5 as the string "1e5": this is why JSON has its own reader.
    assert parse_yaml("a: 1e5", {}).data == {"a": "1e5"}
    assert parse_json('{"a": 1e5}', {}).data == {"a": 100000.0}


def test_json_lines_of_keys_and_items() -> None:
    text = '{\n  "a": 1,\n  "list": [\n    {"x": 1},\n\n    {"x": 2}\n  ]\n}'
    doc = parse_json(text, {})
    assert doc.lines[()] == 1
    assert doc.lines[("a",)] == 2
    assert doc.lines[("list",)] == 3
    assert doc.lines[("list", 0)] == 4
    assert doc.lines[("list", 1)] == 6
    assert doc.lines[("list", 1, "x")] == 6
    assert doc.line_for(("list", 1, "missing", "deeper")) == 6


def test_yaml_lines_follow_keys_items_and_block_values() -> None:
    text = "a: 1\nlist:\n  - x: 1\n  -\n    x: 2\nblock: |\n  text\n"
    doc = parse_yaml(text, {})
    assert doc.data == {"a": 1, "list": [{"x": 1}, {"x": 2}], "block": "text\n"}
    assert doc.lines[("list",)] == 2
    assert doc.lines[("list", 0, "x")] == 3
    assert doc.lines[("list", 1)] == 5  # the item's node starts where its content does
    assert doc.lines[("block",)] == 6


def test_expansion_runs_once_per_aliased_node() -> None:
    # An alias shares its node: "$${" must become "${" once, not be expanded again.
    doc = parse_yaml("a: &x 'cost $${PRICE}'\nb: *x\n", {"PRICE": "5"})
    assert doc.data == {"a": "cost ${PRICE}", "b": "cost ${PRICE}"}


@pytest.mark.parametrize(
    ("text", "env", "expected", "errors"),
    [
        ("${A}${B:-b}", {"A": "a"}, "ab", []),
        ("x${A}y", {"A": ""}, "xy", []),
        ("${A:-}", {}, "", []),
        ("${A:-a:-b}", {}, "a:-b", []),
        ("$A and $$ stay", {"A": "1"}, "$A and $$ stay", []),
        ("${1BAD}", {}, "${1BAD}", ["malformed variable reference '${1BAD}'"]),
    ],
)
def test_expand_env(text: str, env: dict[str, str], expected: str, errors: list[str]) -> None:
    assert expand_env(text, env) == (expected, errors)
