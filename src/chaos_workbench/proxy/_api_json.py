"""Go's ``encoding/json`` rules for the Toxiproxy API: response bodies and request bodies.

Toxiproxy is written in Go, and its clients (and recorded fixtures of its answers) see Go's
JSON: compact, ``<``, ``>``, ``&`` and U+2028/9 escaped, integral floats printed as integers.
Its request bodies are read by Go's decoder: the first JSON value is read and what follows
is ignored, unknown keys are ignored, ``null`` keeps a default, keys match
case-insensitively (exact key first), and a value of the wrong type is ``bad request body``
with Go's message; lone surrogates become U+FFFD and numbers no Go type holds are refused
(``_go_json``). This module does both directions so :mod:`chaos_workbench.proxy.api` holds
only the routes and handlers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from chaos_workbench.limits import MAX_API_BODY_BYTES, MAX_DEPTH, json_depth_exceeds
from chaos_workbench.proxy import errors
from chaos_workbench.proxy._go_json import (
    INT64_MAX,
    INT64_MIN,
    go_number_error,
    json_kind,
    literal,
    loads_first,
)
from chaos_workbench.proxy.models import ProxyInfo, ToxicInfo, ToxicSpec, ToxicUpdate

__all__ = [
    "Body",
    "decode",
    "decode_object",
    "error_response",
    "go_json",
    "json_kind",
    "json_response",
    "populate_error_response",
    "proxy_json",
    "toxic_json",
    "validated",
]

_M = TypeVar("_M", ToxicSpec, ToxicUpdate)
_FLOAT32_MAX = 3.4028234663852886e38  # Go's math.MaxFloat32


# -- encoding as Go's encoding/json does ------------------------------------------------------


def go_json(value: object) -> str:
    """Compact JSON with Go's escapes (<, >, &, U+2028/9) and integral floats as integers."""
    text = json.dumps(_go_numbers(value), separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _go_numbers(value: object) -> object:
    # Go prints float32(1) as 1, not 1.0; clients compare toxicity == 1.0 either way, but
    # byte-for-byte answers keep recorded fixtures (VCR cassettes, golden files) valid.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_go_numbers(v) for v in value]
    return value


def json_response(data: object, status: int = 200) -> web.Response:
    # Exactly Go's header: "application/json", no charset parameter.
    return web.Response(
        body=go_json(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def error_response(error: errors.ApiError) -> web.Response:
    # Go's http.Error appends a newline to the body and sets nosniff.
    return web.Response(
        body=(go_json(error.body()) + "\n").encode(),
        status=error.status,
        headers={"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"},
    )


def populate_error_response(error: errors.ApiError) -> web.Response:
    # Toxiproxy's Populate writes json.Marshal(struct{*ApiError; Proxies}) itself: the error
    # fields, then "proxies" (a nil slice: null, as nothing was created), no newline, no
    # nosniff header.
    body = {**error.body(), "proxies": None}
    return web.Response(
        body=go_json(body).encode(),
        status=error.status,
        headers={"Content-Type": "application/json"},
    )


def proxy_json(proxy: ProxyInfo) -> dict[str, Any]:
    return proxy.model_dump(mode="json")


def toxic_json(toxic: ToxicInfo) -> dict[str, Any]:
    return toxic.model_dump(mode="json")


# -- decoding as Go's encoding/json does ------------------------------------------------------


class Body:
    """A decoded JSON object with Go's field lookup (exact key first, then case-insensitive)."""

    def __init__(self, data: Mapping[str, object], target: str) -> None:
        self._data = data
        self._folded = {k.lower(): k for k in reversed(list(data))}
        self._target = target

    def raw(self, key: str) -> object:
        if key in self._data:
            return self._data[key]
        folded = self._folded.get(key.lower())
        return None if folded is None else self._data[folded]

    def _typed(self, key: str, kinds: tuple[type, ...], go_type: str) -> object:
        value = self.raw(key)
        if value is None:
            return None  # null or absent: Go keeps the default
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise errors.BadRequestBody(
                f"json: cannot unmarshal {json_kind(value)} into {self._field(key, go_type)}"
            )
        return value

    def string(self, key: str) -> str | None:
        value = self._typed(key, (str,), "string")
        return value if isinstance(value, str) else None

    def boolean(self, key: str) -> bool | None:
        value = self._typed(key, (bool,), "bool")
        return value if isinstance(value, bool) else None

    def number(self, key: str) -> float | None:
        """A float32 field (``toxicity``); Go refuses a number beyond float32's range."""
        value = self._typed(key, (int, float), "float32")
        if not isinstance(value, int | float):
            return None
        if abs(value) > _FLOAT32_MAX:  # an int of any size compares exactly with a float
            raise errors.BadRequestBody(
                go_number_error(literal(value), self._field(key, "float32"))
            )
        return float(value)

    def int64(self, key: str) -> int | float | None:
        """An int64 field of ours (``ttl_ms``): any number within int64's range, as given (a
        fraction is the model's to refuse); beyond it, Go's message."""
        value = self._typed(key, (int, float), "int64")
        if not isinstance(value, int | float):
            return None
        if not INT64_MIN <= value <= INT64_MAX:
            raise errors.BadRequestBody(go_number_error(literal(value), self._field(key, "int64")))
        return value

    def _field(self, key: str, go_type: str) -> str:
        return f"Go struct field {self._target}.{key} of type {go_type}"

    def mapping(self, key: str) -> dict[str, object] | None:
        value = self._typed(key, (dict,), "map[string]interface {}")
        return value if isinstance(value, dict) else None


async def decode(request: web.Request) -> object:
    """The first JSON value of the body (Go's Decoder.Decode ignores what follows it)."""
    try:
        raw = await request.read()  # refused past the app's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise errors.BadRequestBody(
            f"request body larger than {MAX_API_BODY_BYTES // (1024 * 1024)} MiB, the limit"
        ) from None
    except ConnectionError:  # closed by the read deadline, or by the client: nobody reads this
        raise errors.BadRequestBody("the connection closed before the body arrived") from None
    except web.RequestPayloadError:  # a Content-Encoding that does not decode, bad chunking
        # (Go does not decode request bodies: the bytes fail as JSON, also a 400.)
        encoding = request.headers.get("Content-Encoding", "identity")
        raise errors.BadRequestBody(
            f"cannot read the body (Content-Encoding: {encoding})"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.BadRequestBody(f"invalid UTF-8 at byte {exc.start}") from None
    text = text.lstrip(" \t\r\n")
    if not text:
        raise errors.BadRequestBody("EOF")
    if json_depth_exceeds(text, MAX_DEPTH):  # the decoder below recurses once per level
        raise errors.BadRequestBody(
            f"invalid JSON: nested more than {MAX_DEPTH} levels deep (the limit)"
        )
    try:
        return loads_first(text)  # lone surrogates become U+FFFD; 1e400, NaN are refused
    except json.JSONDecodeError as exc:
        raise errors.BadRequestBody(f"invalid JSON: {exc.msg} (offset {exc.pos})") from None


async def decode_object(request: web.Request, target: str) -> Body:
    value = await decode(request)
    if not isinstance(value, dict):
        raise errors.BadRequestBody(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type {target}"
        )
    # Go names a field by its struct's name, which an anonymous struct lacks: ".toxicity".
    return Body(value, "" if target.startswith("struct {") else target.rsplit(".", 1)[-1])


# -- validation into the models ------------------------------------------------------------


def validated(model: type[_M], fields: dict[str, Any]) -> _M:
    """``model`` from decoded fields; pydantic's first complaint becomes ``bad request body``."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise errors.BadRequestBody(f"{where}: {first['msg']}") from None
