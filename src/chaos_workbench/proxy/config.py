"""Load a Toxiproxy-format JSON config file: the proxies ``cwb proxy serve --config`` starts with.

The format is Toxiproxy's (``toxiproxy-server -config``): a JSON array of objects with
``name``, ``listen``, ``upstream`` and optional ``enabled`` (default true)::

    [{"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379"}]

Toxiproxy logs a bad file and starts without it; we refuse to start instead, with every
mistake listed at once, each naming the file and the entry (``config.json: [1].upstream:
missing``): a fault proxy silently missing a proxy makes every later result wrong. As in
Toxiproxy, unknown keys are ignored (so existing files keep working) and a missing
``listen`` means an ephemeral port on 127.0.0.1.

Exceptions::

    ConfigError     the file cannot be read or is not a valid config (``problems`` lists why)
"""

from __future__ import annotations

import json
from pathlib import Path

from chaos_workbench.limits import MAX_DEPTH, json_depth_exceeds
from chaos_workbench.proxy._go_json import loads
from chaos_workbench.proxy._names import name_problem
from chaos_workbench.proxy.errors import BadRequestBody
from chaos_workbench.proxy.models import ProxySpec

__all__ = ["DEFAULT_LISTEN", "ConfigError", "load_config", "parse_config"]

DEFAULT_LISTEN = "127.0.0.1:0"  # loopback by default; port 0 = ephemeral, reported back


class ConfigError(Exception):
    """The config file cannot be read or is not valid; ``problems`` lists every mistake."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


def load_config(path: Path) -> tuple[ProxySpec, ...]:
    """Read and validate a config file; raise :class:`ConfigError` naming every mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the file: {exc}"]) from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> tuple[ProxySpec, ...]:
    """Validate config text (see the module docstring for the format)."""
    data = _decode(text, source)
    if not isinstance(data, list):
        raise ConfigError(source, [f"expected a JSON array of proxies, got {_json_type(data)}"])
    problems: list[str] = []
    specs: list[ProxySpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        where = f"[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object, got {_json_type(item)}")
            continue
        fields: dict[str, str | bool] = {}
        for key, required in (("name", True), ("upstream", True), ("listen", False)):
            value = item.get(key)
            if value is None or value == "":
                if required:
                    problems.append(f"{where}.{key}: missing (required)")
                continue
            if not isinstance(value, str):
                problems.append(f"{where}.{key}: expected a string, got {json.dumps(value)}")
                continue
            fields[key] = value
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append(f"{where}.enabled: expected true or false, got {json.dumps(enabled)}")
        name = fields.get("name")
        if isinstance(name, str):
            if problem := name_problem(name):
                problems.append(f"{where}.name: {problem}")
            if name in seen:
                problems.append(f"{where}.name: {name!r} is already used by [{seen[name]}]")
            seen.setdefault(name, index)
        if "name" in fields and "upstream" in fields:
            specs.append(
                ProxySpec(
                    name=str(fields["name"]),
                    listen=str(fields.get("listen", DEFAULT_LISTEN)),
                    upstream=str(fields["upstream"]),
                    enabled=enabled if isinstance(enabled, bool) else True,
                )
            )
    if problems:
        raise ConfigError(source, problems)
    return tuple(specs)


def _decode(text: str, source: str) -> object:
    if json_depth_exceeds(text, MAX_DEPTH):  # the decoder recurses once per level
        raise ConfigError(source, [f"invalid JSON: nested more than {MAX_DEPTH} levels deep"])
    try:
        return loads(text)  # as the API reads bodies: lone surrogates become U+FFFD
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, [f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"]
        ) from exc
    except BadRequestBody as exc:  # a number no Go type holds, NaN
        raise ConfigError(source, [exc.detail or exc.message]) from exc


def _json_type(value: object) -> str:
    """The JSON type of ``value`` with its article: "an object", "a string", "null"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a number"
