"""The request mix: which request to send next, as ready-to-write HTTP/1.1 bytes.

Requests without templates are encoded once at start, so the hot path is a weighted pick
and a lookup. Templates are replaced per request:

* ``{{counter}}``: 0, 1, 2, … across the whole run (unique ids for POSTs);
* ``{{random_id}}``: 16 hex digits from the run's seeded RNG (replayable).

They may appear in the path, header values and the body (``body`` text or ``json``).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from chaos_workbench._version import __version__
from chaos_workbench.traffic.spec import RequestSpec

__all__ = ["COUNTER", "RANDOM_ID", "PreparedRequest", "RequestMix", "Target"]

COUNTER = "{{counter}}"
RANDOM_ID = "{{random_id}}"
_USER_AGENT = f"chaos-workbench/{__version__}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go: scheme, host, port and the base path of the traffic URL."""

    scheme: str
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {url!r}: {exc}") from None
        default = 443 if parts.scheme == "https" else 80
        base = parts.path.rstrip("/")
        if parts.query:
            base += "?" + parts.query
        return cls(parts.scheme, parts.hostname, port or default, base)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """One mix entry: its static bytes, or its template when it has one."""

    method: str
    encoded: bytes | None  # None: templated, render per request
    template: str

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"


def _head_and_body(target: Target, spec: RequestSpec) -> str:
    path = spec.path
    if target.base_path:
        path = target.base_path if path == "/" else target.base_path + path
    body = ""
    content_type = None
    if spec.json_body is not None:
        body = json.dumps(spec.json_body, separators=(",", ":"))
        content_type = "application/json"
    elif spec.body is not None:
        body = spec.body
    lines = [f"{spec.method} {path} HTTP/1.1", f"Host: {target.host_header}"]
    names = {k.lower() for k in spec.headers}
    if "user-agent" not in names:
        lines.append(f"User-Agent: {_USER_AGENT}")
    if content_type and "content-type" not in names:
        lines.append(f"Content-Type: {content_type}")
    lines.extend(f"{k}: {v}" for k, v in spec.headers.items())
    # Content-Length is filled in after templating (the body's length may change).
    return "\r\n".join(lines) + "\r\n" + "\x00" + body


def _encode(text: str) -> bytes:
    head, _, body = text.partition("\x00")
    raw = body.encode()
    if raw or not head.startswith(("GET ", "HEAD ", "DELETE ", "OPTIONS ")):
        head += f"Content-Length: {len(raw)}\r\n"
    return (head + "\r\n").encode() + raw


class RequestMix:
    """Weighted choice over the prepared requests; renders templates with the run's RNG."""

    def __init__(self, target: Target, requests: Sequence[RequestSpec], rng: random.Random) -> None:
        if not requests:
            raise ValueError("the request mix is empty")
        self._rng = rng
        self._counter = itertools.count()
        self.requests: tuple[PreparedRequest, ...] = tuple(
            self._prepare(target, spec) for spec in requests
        )
        total = sum(spec.weight for spec in requests)
        self._cumulative = list(itertools.accumulate(spec.weight / total for spec in requests))

    @staticmethod
    def _prepare(target: Target, spec: RequestSpec) -> PreparedRequest:
        text = _head_and_body(target, spec)
        templated = COUNTER in text or RANDOM_ID in text
        return PreparedRequest(spec.method, None if templated else _encode(text), text)

    def pick(self) -> int:
        """Index of the next request (weighted)."""
        if len(self._cumulative) == 1:
            return 0
        i = bisect.bisect_right(self._cumulative, self._rng.random())
        return min(i, len(self._cumulative) - 1)

    def render(self, index: int) -> bytes:
        """The wire bytes of request ``index``, templates filled in."""
        prepared = self.requests[index]
        if prepared.encoded is not None:
            return prepared.encoded
        text = prepared.template
        if COUNTER in text:
            text = text.replace(COUNTER, str(next(self._counter)))
        while RANDOM_ID in text:
            text = text.replace(RANDOM_ID, f"{self._rng.getrandbits(64):016x}", 1)
        return _encode(text)
