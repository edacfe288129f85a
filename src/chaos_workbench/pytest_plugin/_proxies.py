"""``cwb_proxy``: proxies on the session's server, each fault a context manager that reverts.

Every toxic is added when its ``with`` block starts and removed when it ends, also when the
block raises; ``down()`` disables the proxy and enables it again. The factory deletes every
proxy a test created when the test ends (passed or failed), which removes their toxics too.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from chaos_workbench.host.address import split_host_port
from chaos_workbench.proxy.client import ProxyApiError, ProxyClientError, RemoteProxy, RemoteToxic
from chaos_workbench.pytest_plugin._server import SyncApi

__all__ = ["Proxy", "ProxyFactory"]


class Proxy:
    """One proxy: ``listen`` is where the code under test connects instead of the upstream."""

    def __init__(self, api: SyncApi, remote: RemoteProxy) -> None:
        self._api = api
        self.name = remote.name
        self.listen = remote.listen
        self.upstream = remote.upstream
        self.host, self.port = split_host_port(remote.listen)
        self._path = "/proxies/" + quote(self.name, safe="")
        self._numbers = itertools.count(1)

    def __repr__(self) -> str:
        return f"<cwb proxy {self.name!r} {self.listen} -> {self.upstream}>"

    # -- state -----------------------------------------------------------------------------

    def state(self) -> RemoteProxy:
        """The proxy as the server reports it now (``enabled``, ``toxics``)."""
        return RemoteProxy.model_validate(self._api.request("GET", self._path))

    # -- any toxic -------------------------------------------------------------------------

    @contextlib.contextmanager
    def toxic(
        self,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: Any,
    ) -> Iterator[RemoteToxic]:
        """Add a toxic of ``type`` with ``attributes`` for the ``with`` block; remove it after."""
        name = name or f"{type}_{stream}_{next(self._numbers)}"
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        created, problem = None, ""
        try:
            created = self._api.request("POST", self._path + "/toxics", body)
        except ProxyApiError as exc:
            problem = exc.message  # reported outside the handler: no chained traceback
        if problem:
            pytest.fail(
                f"cwb proxy {self.name!r}: cannot add {type} toxic: {problem}", pytrace=False
            )
        try:
            yield RemoteToxic.model_validate(created)
        finally:
            with contextlib.suppress(ProxyApiError):  # 404: already gone (e.g. proxy deleted)
                self._api.request("DELETE", f"{self._path}/toxics/{quote(name, safe='')}")

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The dependency is unreachable: connections are refused and open ones dropped."""
        self._api.request("POST", self._path, {"enabled": False})
        try:
            yield
        finally:
            self._api.request("POST", self._path, {"enabled": True})

    # -- Toxiproxy's toxics ----------------------------------------------------------------

    def latency(
        self, ms: int, *, jitter: int = 0, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Delay data by ``ms`` ± ``jitter`` milliseconds (default: downstream, the answers)."""
        return self.toxic("latency", latency=ms, jitter=jitter, **options)

    def bandwidth(
        self, rate: int, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Limit throughput to ``rate`` KB/s."""
        return self.toxic("bandwidth", rate=rate, **options)

    def slow_close(
        self, delay: int, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Delay the close of connections by ``delay`` ms."""
        return self.toxic("slow_close", delay=delay, **options)

    def timeout(
        self, timeout: int = 0, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Stop all data; close after ``timeout`` ms (0: hold the connection forever)."""
        return self.toxic("timeout", timeout=timeout, **options)

    def reset_peer(
        self, timeout: int = 0, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Reset connections (TCP RST) after ``timeout`` ms."""
        return self.toxic("reset_peer", timeout=timeout, **options)

    def slicer(
        self, average_size: int, *, size_variation: int = 0, delay: int = 0, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Cut data into ``average_size``-byte slices ``delay`` µs apart."""
        return self.toxic(
            "slicer",
            average_size=average_size,
            size_variation=size_variation,
            delay=delay,
            **options,
        )

    def limit_data(
        self, bytes: int, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Close connections after ``bytes`` bytes."""
        return self.toxic("limit_data", bytes=bytes, **options)

    def limit_time(
        self, time: int, **options: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Close connections ``time`` ms after they open."""
        return self.toxic("limit_time", time=time, **options)

    # -- HTTP toxics -----------------------------------------------------------------------

    def http_error(
        self, status: int = 503, *, probability: float = 1.0, **attributes: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Answer matching requests with ``status`` (``body``, ``headers``, ``method``, ``path``)."""
        return self.toxic("http_error", status=status, probability=probability, **attributes)

    def http_latency(
        self, latency_ms: float, *, jitter_ms: float = 0.0, **attributes: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Forward matching requests ``latency_ms`` ± ``jitter_ms`` late."""
        return self.toxic("http_latency", latency_ms=latency_ms, jitter_ms=jitter_ms, **attributes)

    def http_abort(
        self, after_bytes: int = 0, **attributes: Any
    ) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Reset the connection after ``after_bytes`` bytes of a matching request's response."""
        return self.toxic("http_abort", after_bytes=after_bytes, **attributes)

    def http_header(self, **attributes: Any) -> contextlib.AbstractContextManager[RemoteToxic]:
        """Edit headers: ``target``, ``remove``, ``replace``, ``add`` (see docs/http-toxics.md)."""
        return self.toxic("http_header", **attributes)


class ProxyFactory:
    """``cwb_proxy(name, upstream=...)``: create a proxy for this test; all deleted after it."""

    def __init__(self, api: SyncApi, host: str) -> None:
        self._api = api
        self._host = host
        self._created: dict[str, Proxy] = {}

    @property
    def api_url(self) -> str:
        """The session server's Toxiproxy API, for any Toxiproxy client."""
        return self._api.api_url

    def __call__(self, name: str, *, upstream: str, listen: str | None = None) -> Proxy:
        """A proxy to ``upstream`` (``host:port``) on ``listen`` (default: a free loopback port)."""
        listen = listen or f"{self._host}:0"
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        problem = ""
        try:
            remote = RemoteProxy.model_validate(self._api.request("POST", "/proxies", body))
        except ProxyApiError as exc:
            problem = exc.message
            if exc.status == 409:
                problem = "a proxy of that name already exists (one name per proxy and test)"
        if problem:  # reported outside the handler: one line, no chained traceback
            pytest.fail(f"cwb_proxy({name!r}, listen={listen!r}): {problem}", pytrace=False)
        proxy = Proxy(self._api, remote)
        self._created[name] = proxy
        return proxy

    def close(self) -> None:
        """Delete every proxy this test created (their toxics go with them)."""
        errors: list[ProxyClientError] = []
        for proxy in self._created.values():
            try:
                self._api.request("DELETE", "/proxies/" + quote(proxy.name, safe=""))
            except ProxyApiError as exc:
                if exc.status != 404:
                    errors.append(exc)
            except ProxyClientError as exc:
                errors.append(exc)
        self._created.clear()
        if errors:
            raise errors[0]
