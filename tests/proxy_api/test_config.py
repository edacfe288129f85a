"""Toxiproxy-format config files: accepted as Toxiproxy accepts them, every mistake listed."""

from __future__ import annotations

import pytest

from chaos_workbench.proxy.config import ConfigError, parse_config


def test_toxiproxy_readme_example_loads() -> None:
    text = """[
      {"name": "web_dev_frontend_1", "listen": "[::]:18080",
       "upstream": "webapp.domain:8080", "enabled": true},
      {"name": "web_dev_mysql_1", "listen": "[::]:13306", "upstream": "database.domain:3306"}
    ]"""
    specs = parse_config(text)
    assert [(s.name, s.listen, s.upstream, s.enabled) for s in specs] == [
        ("web_dev_frontend_1", "[::]:18080", "webapp.domain:8080", True),
        ("web_dev_mysql_1", "[::]:13306", "database.domain:3306", True),
    ]


def test_defaults_and_unknown_keys() -> None:
    (spec,) = parse_config('[{"name": "a", "upstream": "127.0.0.1:1", "comment": "ignored"}]')
    assert (spec.listen, spec.enabled) == ("127.0.0.1:0", True)
    assert parse_config("[]") == ()


def test_every_mistake_is_listed_with_the_file() -> None:
    text = """[
      {"name": "a", "upstream": "127.0.0.1:1"},
      {"name": "a", "upstream": "127.0.0.1:2", "enabled": "yes"},
      {"upstream": 5},
      "not an object"
    ]"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="proxies.json")
    assert caught.value.problems == [
        '[1].enabled: expected true or false, got "yes"',
        "[1].name: 'a' is already used by [0]",
        "[2].name: missing (required)",
        "[2].upstream: expected a string, got 5",
        "[3]: expected an object, got a string",
    ]
    assert (
        str(caught.value).splitlines()[0]
        == 'proxies.json: [1].enabled: expected true or false, got "yes"'
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "a"}', "expected a JSON array of proxies, got an object"),
        ("[1,", "line 1 column 4: invalid JSON: Expecting value"),
        ("", "line 1 column 1: invalid JSON: Expecting value"),
    ],
)
def test_not_a_config(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems == [problem]


def test_names_the_api_could_not_address_are_listed_and_surrogates_replaced() -> None:
    text = r"""[
      {"name": "a/b", "upstream": "127.0.0.1:1"},
      {"name": "..", "upstream": "127.0.0.1:1"},
      {"name": "\ud800", "upstream": "127.0.0.1:1"}
    ]"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems == [
        '[0].name: contains "/": a name is one segment of the URL, so it could not be addressed',
        '[1].name: is "..": URLs drop it as a dot-segment, so it could not be addressed',
    ]
    (spec,) = parse_config(r'[{"name": "x\udc00", "upstream": "127.0.0.1:1"}]')
    assert spec.name == "x\ufffd"  # as the API decodes bodies (Go: U+FFFD)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[{"name": "a", "upstream": "127.0.0.1:1", "n": 1e400}]', "cannot unmarshal number 1e400"),
        ('[{"name": "a", "upstream": "127.0.0.1:1", "n": NaN}]', "NaN is not a JSON value"),
        ("[" * 1000 + "]" * 1000, "nested more than 100 levels deep"),
        ('[{"name": ' + "9" * 5000 + "}]", "a number of 5000 digits"),
    ],
)
def test_hostile_config_text_is_a_config_error(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert problem in caught.value.problems[0]
