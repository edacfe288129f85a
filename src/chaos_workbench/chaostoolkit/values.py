"""Configuration, secrets and ``${name}`` substitution, as ``chaoslib`` does them.

* ``configuration``: a mapping of names to literals, or to ``{type: env, key, default,
  env_var_type}`` read from the environment (``env_var_type``: ``str``/``string``,
  ``int``/``integer``, ``float``/``number``, ``bool``, ``json``, ``bytes`` is read as str).
* ``secrets``: scopes of names to literals or ``{type: env, key}`` (a ``default`` and an
  ``env_var_type`` are honoured too).
* :func:`substitute`: ``${name}`` and ``$name`` in strings, recursively through lists and
  mappings, from the configuration first, then every secret scope. A string that is
  exactly one reference takes the value with its type (``"${port}"`` → ``8080``); an
  unknown name is left as written (``string.Template.safe_substitute``).

Where Chaos Toolkit crashes with a raw Python error (``int("")`` for an empty default) or
a bare exception, these return a problem located at the entry instead.
"""

from __future__ import annotations

import json
import string
from collections import ChainMap
from collections.abc import Mapping

from pydantic import JsonValue

__all__ = ["ValueProblem", "load_configuration", "load_secrets", "substitute"]

Loc = tuple[str | int, ...]
ValueProblem = tuple[Loc, str]  # where (relative to the section), what is wrong
_TYPES = ("str", "string", "int", "integer", "float", "number", "bool", "json", "bytes")


def substitute(
    data: JsonValue,
    configuration: Mapping[str, JsonValue],
    secrets: Mapping[str, Mapping[str, JsonValue]],
) -> JsonValue:
    """``data`` with every ``${name}`` replaced (the original is not changed)."""
    mapping: ChainMap[str, JsonValue] = ChainMap(
        dict(configuration), *(dict(scope) for scope in secrets.values())
    )
    return _substitute(data, mapping)


def _substitute(data: JsonValue, mapping: ChainMap[str, JsonValue]) -> JsonValue:
    if isinstance(data, str):
        return _substitute_string(data, mapping)
    if isinstance(data, list):
        return [_substitute(item, mapping) for item in data]
    if isinstance(data, dict):
        return {key: _substitute(value, mapping) for key, value in data.items()}
    return data


def _substitute_string(text: str, mapping: ChainMap[str, JsonValue]) -> JsonValue:
    if "$" not in text:
        return text
    template = string.Template(text)
    whole = template.pattern.fullmatch(text)
    if whole is not None:
        name = whole.group("named") or whole.group("braced")
        if name is not None and name in mapping:
            return mapping[name]
    return template.safe_substitute(
        {
            key: value if isinstance(value, str) else _as_text(value)
            for key, value in mapping.items()
        }
    )


def _as_text(value: JsonValue) -> str:
    return str(value)  # as chaoslib: str() of the value (True, 8080, {'a': 1})


def load_configuration(
    info: Mapping[str, JsonValue], env: Mapping[str, str]
) -> tuple[dict[str, JsonValue], list[ValueProblem]]:
    """The configuration's values, and what is wrong with its entries."""
    conf: dict[str, JsonValue] = {}
    problems: list[ValueProblem] = []
    for name, value in info.items():
        if isinstance(value, dict) and "type" in value:
            if value["type"] == "env":
                resolved = _from_env(value, env, (name,), problems, allow_default=True)
                if resolved is not _MISSING:
                    conf[name] = resolved  # type: ignore[assignment]  # not _MISSING: a JsonValue
                continue
            if value["type"] == "probe":
                problems.append(
                    (
                        (name, "type"),
                        "dynamic configuration (a probe run to compute a value) is not "
                        "supported; set the value, or read it from the environment",
                    )
                )
                continue
        conf[name] = value
    return conf, problems


def load_secrets(
    info: Mapping[str, Mapping[str, JsonValue]], env: Mapping[str, str]
) -> tuple[dict[str, dict[str, JsonValue]], list[ValueProblem]]:
    """The secret scopes' values, and what is wrong with their entries."""
    secrets: dict[str, dict[str, JsonValue]] = {}
    problems: list[ValueProblem] = []
    for scope, entries in info.items():
        values: dict[str, JsonValue] = {}
        for name, value in entries.items():
            if isinstance(value, dict) and value.get("type") == "env":
                resolved = _from_env(value, env, (scope, name), problems, allow_default=True)
                if resolved is not _MISSING:
                    values[name] = resolved  # type: ignore[assignment]
            elif isinstance(value, dict) and value.get("type") == "vault":
                problems.append(
                    (
                        (scope, name, "type"),
                        "secrets from HashiCorp Vault are not supported; "
                        "read them from the environment (type: env)",
                    )
                )
            else:
                values[name] = value
        secrets[scope] = values
    return secrets, problems


_MISSING = object()


def _from_env(
    entry: Mapping[str, JsonValue],
    env: Mapping[str, str],
    loc: Loc,
    problems: list[ValueProblem],
    *,
    allow_default: bool,
) -> JsonValue | object:
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        problems.append(((*loc, "key"), "an environment entry needs a 'key': the variable's name"))
        return _MISSING
    kind = entry.get("env_var_type")
    if kind is not None and kind not in _TYPES:
        problems.append(
            (
                (*loc, "env_var_type"),
                f"unknown type {kind!r} (expected one of: bool, float, int, json, str)",
            )
        )
        return _MISSING
    if key in env:
        raw: JsonValue = env[key]
        source = f"environment variable {key}"
    elif allow_default and "default" in entry:
        raw = entry["default"]
        source = f"the default of {key}"
        if raw is None:
            return None
    else:
        problems.append(
            (
                (*loc, "key"),
                f"environment variable {key} is not set and the entry has no default",
            )
        )
        return _MISSING
    try:
        return _convert(kind, raw)
    except (ValueError, TypeError) as exc:
        where = (*loc, "default") if source.startswith("the default") else (*loc, "key")
        problems.append((where, f"{source} is {raw!r}, which is not a valid {kind}: {exc}"))
        return _MISSING


def _convert(kind: JsonValue, value: JsonValue) -> JsonValue:
    if kind is None or kind in ("str", "string", "bytes"):
        return value
    if kind in ("int", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise TypeError("expected an integer")
        return int(value)
    if kind in ("float", "number"):
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise TypeError("expected a number")
        return float(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise TypeError("expected true or false")
        return value.lower() not in ("false", "0", "no")
    # json
    if value in ("", None) or not isinstance(value, str):
        return value
    parsed: JsonValue = json.loads(value)
    return parsed
