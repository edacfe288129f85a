"""An async client for a Toxiproxy-compatible control API, and a way to run ours for a run.

:class:`ToxiproxyClient` speaks only the documented Toxiproxy 2.x HTTP API, so the engine
can drive our ``cwb proxy`` or a real Toxiproxy server at a URL alike. It implements the
:class:`~chaos_workbench.faults.base.ProxyControl` protocol the network faults use
(``api_url``, ``add_toxic``, ``remove_toxic``, ``set_enabled``) plus proxy management,
``populate`` and ``reset``.

One extension is sent to every server: a toxic may carry ``ttl_ms`` (our server removes the
toxic when it expires, so a toxic left behind by a crashed run goes away by itself). A real
Toxiproxy ignores unknown fields, so the same request works there, just without expiry;
:attr:`RemoteToxic.ttl_ms` tells which happened (None: the server did not take it).

:func:`start_proxy_server` runs our API server as a child process in its own session
(``python -m chaos_workbench.proxy.cli serve`` on an ephemeral port) and returns a handle
with ``api_url`` and ``aclose()``; it lives in :mod:`chaos_workbench.proxy.server_process`
and is re-exported here with :class:`ProxyServerHandle`, as are the exceptions (defined in
``_client_base``, which both modules share).

Exceptions::

    ProxyClientError            the control API could not do what was asked
    ├── ProxyApiError           the API answered with an error status (``status``, ``message``)
    └── ProxyApiUnreachable     no answer: connection refused, reset or timed out
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from chaos_workbench.aio import AsyncResource
from chaos_workbench.proxy._client_base import (
    USER_AGENT,
    ProxyApiError,
    ProxyApiUnreachable,
    ProxyClientError,
)
from chaos_workbench.proxy.server_process import ProxyServerHandle, start_proxy_server

__all__ = [
    "ProxyApiError",
    "ProxyApiUnreachable",
    "ProxyClientError",
    "ProxyServerHandle",
    "RemoteProxy",
    "RemoteToxic",
    "ToxiproxyClient",
    "start_proxy_server",
]


class _Remote(BaseModel):
    # Unknown fields are ignored: a newer server may add some, as Toxiproxy's clients allow.
    model_config = ConfigDict(frozen=True, extra="ignore")


_M = TypeVar("_M", bound=_Remote)


class RemoteToxic(_Remote):
    """A toxic as the API reports it (Toxiproxy's JSON shape)."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, JsonValue] = {}
    ttl_ms: float | None = None  # our extension; None from a real Toxiproxy


class RemoteProxy(_Remote):
    """A proxy as the API reports it (Toxiproxy's JSON shape)."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[RemoteToxic, ...] = ()


class ToxiproxyClient(AsyncResource):
    """Async client for a Toxiproxy 2.x compatible API at ``api_url`` (e.g. http://127.0.0.1:8474)."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_url.startswith(("http://", "https://")):
            api_url = "http://" + api_url  # as toxiproxy-cli accepts "localhost:8474"
        self._api_url = api_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self._api_url,
            timeout=timeout_s,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            trust_env=False,  # a loopback control API must never go through an HTTP proxy
        )

    @property
    def api_url(self) -> str:
        return self._api_url

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- server ----------------------------------------------------------------------------

    async def version(self) -> str:
        """The server's version: Toxiproxy ≥ 2.6 sends ``{"version": ...}``, older plain text."""
        response = await self._request("GET", "/version")
        text = response.text.strip()
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict) and isinstance(data.get("version"), str):
            return str(data["version"])
        return text

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._request("POST", "/reset")

    # -- proxies ---------------------------------------------------------------------------

    async def proxies(self) -> dict[str, RemoteProxy]:
        data = (await self._request("GET", "/proxies")).json()
        if not isinstance(data, dict):
            raise ProxyClientError(f"GET /proxies: expected a JSON object, got {data!r}")
        return {name: self._parse(RemoteProxy, value) for name, value in data.items()}

    async def proxy(self, name: str) -> RemoteProxy:
        return self._parse(RemoteProxy, (await self._request("GET", _proxy_path(name))).json())

    async def create_proxy(
        self, name: str, upstream: str, *, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> RemoteProxy:
        """Create a proxy; ``listen`` port 0 picks an ephemeral port, reported back."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return self._parse(RemoteProxy, (await self._request("POST", "/proxies", body)).json())

    async def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> RemoteProxy:
        body: dict[str, Any] = {}
        if listen is not None:
            body["listen"] = listen
        if upstream is not None:
            body["upstream"] = upstream
        if enabled is not None:
            body["enabled"] = enabled
        # POST rather than PATCH: every Toxiproxy 2.x accepts it (PATCH came later).
        response = await self._request("POST", _proxy_path(name), body)
        return self._parse(RemoteProxy, response.json())

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable (``down``: refuse and drop connections) a proxy."""
        await self.update_proxy(proxy, enabled=enabled)

    async def delete_proxy(self, name: str) -> None:
        await self._request("DELETE", _proxy_path(name))

    async def populate(self, proxies: Sequence[Mapping[str, Any]]) -> list[RemoteProxy]:
        """Create or replace proxies in bulk (Toxiproxy's ``/populate``)."""
        data = (await self._request("POST", "/populate", list(proxies))).json()
        items = data.get("proxies") if isinstance(data, dict) else None
        return [self._parse(RemoteProxy, item) for item in items or ()]

    # -- toxics ----------------------------------------------------------------------------

    async def toxics(self, proxy: str) -> list[RemoteToxic]:
        data = (await self._request("GET", _proxy_path(proxy) + "/toxics")).json()
        if not isinstance(data, list):
            raise ProxyClientError(f"GET toxics of {proxy!r}: expected a JSON list, got {data!r}")
        return [self._parse(RemoteToxic, item) for item in data]

    async def create_toxic(
        self,
        proxy: str,
        *,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
        ttl_ms: float | None = None,
    ) -> RemoteToxic:
        """Add a toxic and return it as the server stored it."""
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name is not None:
            body["name"] = name
        if ttl_ms is not None:
            body["ttl_ms"] = ttl_ms
        response = await self._request("POST", _proxy_path(proxy) + "/toxics", body)
        return self._parse(RemoteToxic, response.json())

    async def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
        ttl_ms: float | None = None,
    ) -> None:
        """``ProxyControl.add_toxic``: add a toxic (see :meth:`create_toxic`)."""
        await self.create_toxic(
            proxy,
            type=type,
            name=name,
            stream=stream,
            toxicity=toxicity,
            attributes=attributes,
            ttl_ms=ttl_ms,
        )

    async def toxic(self, proxy: str, name: str) -> RemoteToxic:
        response = await self._request("GET", _toxic_path(proxy, name))
        return self._parse(RemoteToxic, response.json())

    async def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        toxicity: float | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> RemoteToxic:
        """Change a toxic's toxicity and/or some attributes (the others are kept)."""
        body: dict[str, Any] = {}
        if toxicity is not None:
            body["toxicity"] = toxicity
        if attributes is not None:
            body["attributes"] = dict(attributes)
        response = await self._request("POST", _toxic_path(proxy, name), body)
        return self._parse(RemoteToxic, response.json())

    async def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; a toxic (or proxy) that is not there is not an error."""
        try:
            await self._request("DELETE", _toxic_path(proxy, name))
        except ProxyApiError as exc:
            if exc.status != 404:
                raise

    # -- plumbing --------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            if body is None:
                response = await self._http.request(method, path)
            else:
                response = await self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ProxyApiUnreachable(
                f"{method} {self._api_url}{path}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 300:
            raise ProxyApiError(
                response.status_code, _error_message(response), method=method, path=path
            )
        return response

    def _parse(self, model: type[_M], data: object) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ProxyClientError(f"unexpected answer from {self._api_url}: {exc}") from exc


def _proxy_path(name: str) -> str:
    return "/proxies/" + quote(name, safe="")


def _toxic_path(proxy: str, toxic: str) -> str:
    return f"{_proxy_path(proxy)}/toxics/{quote(toxic, safe='')}"


def _error_message(response: httpx.Response) -> str:
    """The ``error`` field of a Toxiproxy error body, or the raw text when it is not JSON."""
    text = response.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or response.reason_phrase
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return text
