"""Whether a probe's value is within its tolerance, as ``chaoslib.hypothesis`` decides.

* ``true``/``false``: the value equals it; a string: the value equals it.
* an integer: the value equals it, or, when the value is a mapping with a ``status``
  (an http or process result), its status does.
* a list: a result with a ``status`` → the status is in the list; otherwise a list of
  two items is an inclusive range ``[low, high]``, any other list a set of allowed values.
* ``{type: probe, ...}``: the probe, called with ``value`` added to its arguments,
  returns something truthy (a probe that fails is "not within").
* ``{type: regex, pattern, target}``: the pattern is found in the value (or in
  ``value[target]``, e.g. ``body`` of an http result).
* ``{type: jsonpath, path, expect, count, target}``: the path finds something in the
  value (a string is read as JSON first); with ``expect`` the found values equal it (a
  list) or are exactly it; with ``count`` that many are found.
* ``{type: range, range: [low, high], target}``: the value is a number within.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath
from pydantic import JsonValue

from chaos_workbench.chaostoolkit.model import (
    JsonPathTolerance,
    ProbeTolerance,
    RangeTolerance,
    RegexTolerance,
    Tolerance,
)
from chaos_workbench.chaostoolkit.values import substitute

__all__ = ["ProbeCall", "check_jsonpath", "within_tolerance"]

ProbeCall = Callable[[ProbeTolerance, JsonValue], JsonValue]  # raises on failure


def check_jsonpath(path: str) -> str | None:
    """Why ``path`` is not a JSON path this module can evaluate, or None."""
    try:
        parse_jsonpath(path.strip())
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # ply raises plain ones
        return f"invalid JSON path {path!r}: {exc}"
    return None


def within_tolerance(  # one branch per tolerance kind, as chaoslib's dispatch
    tolerance: Tolerance,
    value: JsonValue,
    configuration: Mapping[str, JsonValue],
    secrets: Mapping[str, Mapping[str, JsonValue]],
    run_probe: ProbeCall,
) -> bool:
    if isinstance(tolerance, bool):
        return value == tolerance
    if isinstance(tolerance, str):
        return value == substitute(tolerance, configuration, secrets)
    if isinstance(tolerance, int):
        if isinstance(value, dict) and "status" in value:
            return value["status"] == tolerance
        return value == tolerance
    if isinstance(tolerance, list):
        return _within_list(tolerance, value)
    if isinstance(tolerance, ProbeTolerance):
        try:
            return bool(run_probe(tolerance, value))
        except Exception:  # a probe that fails says "not within", as chaoslib
            return False
    if isinstance(tolerance, RegexTolerance):
        return _within_regex(tolerance, value, configuration, secrets)
    if isinstance(tolerance, JsonPathTolerance):
        return _within_jsonpath(tolerance, value, configuration, secrets)
    if isinstance(tolerance, RangeTolerance):
        return _within_range(tolerance, value)
    return False  # an unknown kind is refused when the experiment is loaded


def _within_list(tolerance: list[JsonValue], value: JsonValue) -> bool:
    if isinstance(value, dict) and "status" in value:
        return value["status"] in tolerance
    if len(tolerance) == 2:
        low, high = tolerance
        try:
            return bool(low <= value <= high)  # type: ignore[operator]
        except TypeError:
            return False
    return value in tolerance


def _target(value: JsonValue, target: str | None) -> JsonValue:
    if target and isinstance(value, dict):
        return value.get(target, value)
    return value


def _within_regex(
    tolerance: RegexTolerance,
    value: JsonValue,
    configuration: Mapping[str, JsonValue],
    secrets: Mapping[str, Mapping[str, JsonValue]],
) -> bool:
    pattern = substitute(tolerance.pattern, configuration, secrets)
    value = _target(value, tolerance.target)
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    return re.search(pattern, value) is not None


def _within_jsonpath(
    tolerance: JsonPathTolerance,
    value: JsonValue,
    configuration: Mapping[str, JsonValue],
    secrets: Mapping[str, Mapping[str, JsonValue]],
) -> bool:
    path = substitute(tolerance.path, configuration, secrets)
    value = _target(value, tolerance.target)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    try:
        found = [match.value for match in parse_jsonpath(str(path).strip()).find(value)]
    except Exception:  # a path that cannot apply to this value finds nothing
        found = []
    result = len(found) > 0
    if tolerance.count is not None:
        result = len(found) == tolerance.count
    if "expect" in tolerance.model_fields_set:
        expect = substitute(tolerance.expect, configuration, secrets)
        result = found == (expect if isinstance(expect, list) else [expect])
    return result


def _within_range(tolerance: RangeTolerance, value: JsonValue) -> bool:
    value = _target(value, tolerance.target)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    low, high = tolerance.range
    return Decimal(low) <= number <= Decimal(high)
