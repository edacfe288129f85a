"""JSON text read as Go's ``encoding/json`` reads it, for the API's bodies and config files.

Python's decoder and Go's differ where hostile input lives, and every difference here once
let a body be stored that could not be sent back (a 500 on every later ``GET /proxies``):

* **Lone surrogates.** ``"\\ud800"`` decodes in Python to a string UTF-8 cannot encode. Go
  replaces an invalid UTF-16 surrogate (an unpaired high or low half) with U+FFFD and
  carries on; so do we, in keys and values at any depth. Valid pairs decode as before.
* **Numbers.** Python reads ``1e400`` as ``inf`` and accepts ``NaN`` / ``Infinity``, neither
  of which is JSON (Go refuses them, and Go's encoder could never write them back); both
  are refused here, ``NaN`` as invalid JSON, ``1e400`` with Go's message for a number that
  does not fit a float64. Integers stay exact Python ints, so a range check can print them
  as Go does (``number 100000000000000000000``); one longer than
  :data:`~chaos_workbench.limits.MAX_JSON_NUMBER_DIGITS` digits is refused (Python would
  raise a ``ValueError`` the API did not expect: a 500).

:func:`loads_first` (a request body) and :func:`loads` (a config file) raise
:class:`~chaos_workbench.proxy.errors.BadRequestBody` (what the API answers); a config file
shows its ``detail`` with the file's name instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from chaos_workbench.limits import MAX_JSON_NUMBER_DIGITS
from chaos_workbench.proxy.errors import BadRequestBody

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "go_attribute_error",
    "go_number_error",
    "json_kind",
    "literal",
    "loads",
    "loads_first",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
# A surrogate can only come from a \u escape (raw UTF-8 surrogates are invalid UTF-8, and
# refused before this point); text without one skips the walk below.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # only an overflow gets here: NaN and Infinity are not JSON
        raise BadRequestBody(go_number_error(text, "Go value of type float64"))
    return value


def _integer(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_DIGITS:
        raise BadRequestBody(
            f"invalid JSON: a number of {len(text)} digits "
            f"(more than {MAX_JSON_NUMBER_DIGITS}, the limit)"
        )
    return int(text)


def _constant(text: str) -> object:
    raise BadRequestBody(f"invalid JSON: {text} is not a JSON value")


_DECODER = json.JSONDecoder(parse_float=_number, parse_int=_integer, parse_constant=_constant)


def loads_first(text: str) -> object:
    """The first JSON value of ``text`` (which must not start with whitespace); what follows
    it is ignored, as Go's ``Decoder.Decode`` does.

    ``json.JSONDecodeError`` for malformed text, ``BadRequestBody`` for the rules above.
    The caller must have bounded the nesting (the decoder recurses once per level).
    """
    value, end = _DECODER.raw_decode(text)
    return _without_surrogates(value) if _SURROGATE_ESCAPE.search(text, 0, end) else value


def loads(text: str) -> object:
    """The whole of ``text`` as one JSON value (``json.loads``), under the rules above."""
    value = _DECODER.decode(text)
    return _without_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def _without_surrogates(value: object) -> object:
    # Recursion is bounded by the caller's depth limit (MAX_DEPTH levels).
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_SURROGATE.sub("\ufffd", k): _without_surrogates(v) for k, v in value.items()}
    return value


def literal(value: int | float) -> str:
    """A number as Go quotes it in errors: its JSON text. Exact for integers and decimals
    (``1.5``); an exponent reads as Python writes it (``1e+20``, Go: ``1e20``)."""
    return str(value) if isinstance(value, int) else repr(value)


def go_number_error(text: str, into: str) -> str:
    """Go's message for a number that does not fit its destination, e.g.
    ``json: cannot unmarshal number 1e400 into Go struct field X.y of type float32``."""
    return f"json: cannot unmarshal number {text} into {into}"


def json_kind(value: object) -> str:
    """The JSON kind of a decoded value, as Go names it in decode errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def go_attribute_error(
    struct: str, int_fields: Mapping[str, str], attributes: Mapping[str, object]
) -> str | None:
    """Go's decode error for the first integer attribute that Go could not store, if any.

    ``int_fields`` maps each integer attribute to its Go type (``int64``). Go takes only an
    integer literal within int64 there: a fraction, an exponent or 2**63 is ``number <text>``,
    another kind is named by its kind (``string``). The field path is Go's, from the root
    of the value Toxiproxy decodes into (``{"attributes": toxic}``):
    ``json: cannot unmarshal number 1e20 into Go struct field LatencyToxic.attributes.latency
    of type int64``. ``null`` is left to the caller (Go keeps the default).
    """
    for key, value in attributes.items():
        go_type = int_fields.get(key)
        if go_type is None or value is None:
            continue
        into = f"Go struct field {struct}.attributes.{key} of type {go_type}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"json: cannot unmarshal {json_kind(value)} into {into}"
        if isinstance(value, float) or not INT64_MIN <= value <= INT64_MAX:
            return go_number_error(literal(value), into)
    return None
