"""Chaos Toolkit's Toxiproxy extension (``chaostoxi``), natively, against our fault proxy.

An activity with provider ``python`` and a module under ``chaostoxi.`` is run here, with
no need for the extension to be installed: the same module and function names, the same
arguments and results (read from chaostoolkit-toxiproxy 0.3's source), acting through our
:class:`~chaos_workbench.proxy.client.ToxiproxyClient`.

The API is the one in the configuration (``toxiproxy_url``, or ``toxiproxy_host`` and
``toxiproxy_port``, 8474 by default), or, when none is configured, our own proxy server
started for the run (its URL is then put in the configuration as ``toxiproxy_url``).

Two differences with the extension: ``create_proxy`` / ``modify_proxy`` write the
``<proxy>_PORT`` they read back into the run's configuration (the extension writes it to
a copy that is thrown away, so only the environment variable was usable) and to the
environment of later ``process`` activities; an action the API refuses fails with the
API's message instead of a bare ``AssertionError`` or ``TypeError``.

Every fault these actions leave (a toxic, a disabled proxy) is tracked, so the run can
name those still in place once the rollbacks are done.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import JsonValue

from chaos_workbench.chaostoolkit.providers import ActivityFailed
from chaos_workbench.proxy.client import ProxyClientError as ProxyError
from chaos_workbench.proxy.client import ToxiproxyClient
from chaos_workbench.proxy.server_process import ProxyServerHandle, start_proxy_server

__all__ = ["PREFIX", "ToxiproxyBridge", "native_function", "uses_toxiproxy"]

PREFIX = "chaostoxi."
_T = TypeVar("_T")


# -- the extension's signatures (for validation: arguments are bound to these) -------------


def create_proxy(
    proxy_name: str,
    upstream_host: str,
    upstream_port: int,
    listen_host: str = "0.0.0.0",
    listen_port: int = 0,
    enabled: bool = True,
) -> None: ...
def modify_proxy(
    proxy_name: str,
    listen_address: str | None = None,
    upstream_address: str | None = None,
    enabled: bool | None = None,
) -> None: ...
def disable_proxy(proxy_name: str) -> None: ...
def enable_proxy(proxy_name: str) -> None: ...
def delete_proxy(proxy_name: str) -> None: ...
def reset() -> None: ...
def proxy_exist(proxy_name: str) -> None: ...
def get_proxy_attribute(proxy_name: str, attribute: str) -> None: ...
def delete_toxic(for_proxy: str, toxic_name: str) -> None: ...
def create_toxic(
    for_proxy: str,
    toxic_name: str,
    toxic_type: str,
    stream: str = "downstream",
    toxicity: float = 1.0,
    attributes: dict[str, Any] | None = None,
) -> None: ...
def create_latency_toxic(
    for_proxy: str, toxic_name: str, latency: int, jitter: int = 0
) -> None: ...
def create_bandwith_degradation_toxic(for_proxy: str, toxic_name: str, rate: int) -> None: ...
def create_slow_connection_close_toxic(for_proxy: str, toxic_name: str, delay: int) -> None: ...
def create_timeout_toxic(for_proxy: str, toxic_name: str, timeout: int) -> None: ...
def create_slicer_toxic(
    for_proxy: str, toxic_name: str, average_size: int, size_variation: int, delay: int
) -> None: ...
def create_limiter_toxic(for_proxy: str, toxic_name: str, bytes_limit: int) -> None: ...


_MODULES: dict[str, dict[str, Callable[..., None]]] = {
    "chaostoxi.proxy.actions": {
        f.__name__: f
        for f in (create_proxy, modify_proxy, disable_proxy, enable_proxy, delete_proxy, reset)
    },
    "chaostoxi.proxy.probes": {f.__name__: f for f in (proxy_exist, get_proxy_attribute)},
    "chaostoxi.toxic.actions": {
        f.__name__: f
        for f in (
            delete_toxic,
            create_toxic,
            create_latency_toxic,
            create_bandwith_degradation_toxic,
            create_slow_connection_close_toxic,
            create_timeout_toxic,
            create_slicer_toxic,
            create_limiter_toxic,
        )
    },
}
# The shortcuts: toxic type and how the extension names its attributes.
_SHORTCUTS: dict[str, tuple[str, dict[str, str]]] = {
    "create_latency_toxic": ("latency", {"latency": "latency", "jitter": "jitter"}),
    "create_bandwith_degradation_toxic": ("bandwidth", {"rate": "rate"}),
    "create_slow_connection_close_toxic": ("slow_close", {"delay": "delay"}),
    "create_timeout_toxic": ("timeout", {"timeout": "timeout"}),
    "create_slicer_toxic": (
        "slicer",
        {"average_size": "average_size", "size_variation": "size_variation", "delay": "delay"},
    ),
    "create_limiter_toxic": ("limit_data", {"bytes_limit": "bytes"}),
}


def native_function(module: str, func: str) -> Callable[..., None] | str:
    """The extension's function (its signature), or why there is none."""
    functions = _MODULES.get(module)
    if functions is None:
        return f"unknown chaostoxi module {module!r} (expected one of: {', '.join(_MODULES)})"
    found = functions.get(func)
    if found is None:
        return f"{module} has no function {func!r} (expected one of: {', '.join(functions)})"
    return found


def uses_toxiproxy(modules: list[str]) -> bool:
    return any(module.startswith(PREFIX) for module in modules)


class ToxiproxyBridge:
    """The chaostoxi actions of one run: an event loop thread, a client, the faults left."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: ProxyServerHandle | None = None
        self._client: ToxiproxyClient | None = None
        self._lock = threading.Lock()
        self.toxics: dict[tuple[str, str], str] = {}  # (proxy, toxic) → type
        self.disabled: set[str] = set()
        self.embedded = False

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def connect(self, configuration: dict[str, JsonValue], workdir: Path | None) -> str:
        """Use the configured API, or start our proxy server; returns the API's URL."""
        url = configuration.get("toxiproxy_url")
        host = configuration.get("toxiproxy_host")
        port = configuration.get("toxiproxy_port") or 8474
        if not url and host:
            url = f"http://{host}:{port}"
        elif not url and configuration.get("toxiproxy_port"):
            url = f"http://127.0.0.1:{port}"
        if not url:
            # No safety net here: the server (and every toxic it holds) dies with this run.
            self._server = self._run(start_proxy_server(workdir=workdir, exit_with_parent=True))
            url = self._server.api_url
            configuration["toxiproxy_url"] = url
            self.embedded = True
        self._client = self._run(self._make_client(str(url)))
        return str(url)

    @staticmethod
    async def _make_client(url: str) -> ToxiproxyClient:
        return ToxiproxyClient(url)

    def call(
        self,
        module: str,
        func: str,
        arguments: Mapping[str, Any],
        configuration: dict[str, JsonValue],
        env: dict[str, str],
    ) -> JsonValue:
        """Run ``module.func(**arguments)`` as the extension would; raises ActivityFailed."""
        signature = native_function(module, func)
        if isinstance(signature, str):
            raise ActivityFailed(signature)
        try:
            bound = inspect.signature(signature).bind(**arguments)
        except TypeError as exc:
            raise ActivityFailed(f"{func}: {exc}") from None
        bound.apply_defaults()
        args = dict(bound.arguments)
        try:
            return self._run(self._call(func, args, configuration, env))
        except ProxyError as exc:
            raise ActivityFailed(f"{func}: {exc}") from None

    async def _call(  # one branch per function of the extension
        self,
        func: str,
        args: dict[str, Any],
        configuration: dict[str, JsonValue],
        env: dict[str, str],
    ) -> JsonValue:
        client = self._client
        if client is None:
            raise ActivityFailed("the Toxiproxy API is not connected")
        if func == "create_proxy":
            upstream = f"{_env(args['upstream_host'], env)}:{_env(args['upstream_port'], env)}"
            listen = f"{args['listen_host']}:{args['listen_port']}"
            made = await client.create_proxy(
                args["proxy_name"], upstream, listen=listen, enabled=bool(args["enabled"])
            )
            self._note_enabled(made.name, made.enabled)
            _publish_port(made.name, made.listen, configuration, env)
            return True
        if func in ("modify_proxy", "disable_proxy", "enable_proxy"):
            enabled = {"disable_proxy": False, "enable_proxy": True}.get(func, args.get("enabled"))
            changed = await client.update_proxy(
                args["proxy_name"],
                listen=args.get("listen_address"),
                upstream=args.get("upstream_address"),
                enabled=enabled,
            )
            self._note_enabled(changed.name, changed.enabled)
            _publish_port(changed.name, changed.listen, configuration, env)
            return True
        if func == "delete_proxy":
            try:
                await client.delete_proxy(args["proxy_name"])
            except ProxyError:
                return None  # the extension only logs a warning
            with self._lock:
                self.disabled.discard(args["proxy_name"])
                for key in [k for k in self.toxics if k[0] == args["proxy_name"]]:
                    del self.toxics[key]
            return None
        if func == "reset":
            await client.reset()
            with self._lock:
                self.toxics.clear()
                self.disabled.clear()
            return True
        if func == "proxy_exist":
            proxies = await client.proxies()
            return args["proxy_name"] in proxies
        if func == "get_proxy_attribute":
            proxies = await client.proxies()
            found = proxies.get(args["proxy_name"])
            if found is None:
                return None
            data = found.model_dump(mode="json")
            if args["attribute"] not in data:
                raise ActivityFailed(f"a proxy has no attribute {args['attribute']!r}")
            value: JsonValue = data[args["attribute"]]
            return value
        if func == "delete_toxic":
            proxy, name = args["for_proxy"], args["toxic_name"]
            try:
                await client.remove_toxic(proxy, name)
            except ProxyError:
                return False
            with self._lock:
                self.toxics.pop((proxy, name), None)
            return True
        return await self._create_toxic(func, args)

    async def _create_toxic(self, func: str, args: dict[str, Any]) -> JsonValue:
        assert self._client is not None
        if func == "create_toxic":
            kind, stream = str(args["toxic_type"]), str(args["stream"])
            toxicity, attributes = float(args["toxicity"]), dict(args["attributes"] or {})
        else:
            kind, names = _SHORTCUTS[func]
            stream, toxicity = "downstream", 1.0
            attributes = {attr: args[param] for param, attr in names.items()}
        made = await self._client.create_toxic(
            args["for_proxy"],
            type=kind,
            name=args["toxic_name"],
            stream=stream,
            toxicity=toxicity,
            attributes=attributes,
        )
        with self._lock:
            self.toxics[(args["for_proxy"], made.name)] = made.type
        return bool(made.name == args["toxic_name"])

    def _note_enabled(self, proxy: str, enabled: bool) -> None:
        with self._lock:
            if enabled:
                self.disabled.discard(proxy)
            else:
                self.disabled.add(proxy)

    def leftover(self) -> list[str]:
        """The faults these actions made that are still in place, checked on the server."""
        try:
            return self._run(self._leftover())
        except ProxyError as exc:
            return [f"(could not check the proxy server: {exc})"]

    async def _leftover(self) -> list[str]:
        assert self._client is not None
        if not self.toxics and not self.disabled:
            return []
        proxies = await self._client.proxies()
        left = []
        for (proxy, name), kind in sorted(self.toxics.items()):
            there = proxies.get(proxy)
            if there is not None and any(t.name == name for t in there.toxics):
                left.append(f"the {kind} toxic {name!r} on proxy {proxy!r}")
        for proxy in sorted(self.disabled):
            there = proxies.get(proxy)
            if there is not None and not there.enabled:
                left.append(f"proxy {proxy!r} disabled")
        return left

    def close(self) -> None:
        async def shut() -> None:
            if self._client is not None:
                await self._client.aclose()
            if self._server is not None:
                await self._server.aclose()

        try:
            self._run(shut())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


def _env(value: Any, env: Mapping[str, str]) -> Any:
    """The extension's ``env:NAME`` form for upstream host and port."""
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in env:
            raise ActivityFailed(f"environment variable {name} is not set")
        return env[name]
    return value


def _publish_port(
    proxy: str, listen: str, configuration: dict[str, JsonValue], env: dict[str, str]
) -> None:
    port = listen.rsplit(":", 1)[-1]
    configuration[f"{proxy}_PORT"] = port
    env[f"{proxy}_PORT"] = port
