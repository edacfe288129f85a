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
name those still in place once the rollbacks are done. On a configured (external) API the
faults outlive this process, so each is also under a lease of the safety net
(``safety.SafetyNet``, in ``.cwb/runs/<stamp>-chaostoolkit-<random>`` beside the journal)
written before the API is asked: the watchdog removes them if this run is killed, ``cwb
cleanup`` after a crash of both, and the end of the run removes those no rollback removed.
Our embedded server needs none: it dies with the run, and its faults with it.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import threading
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import JsonValue

from chaos_workbench.chaostoolkit.providers import ActivityFailed
from chaos_workbench.chaostoolkit.toxi_functions import SHORTCUTS, native_function
from chaos_workbench.proxy.client import ProxyClientError as ProxyError
from chaos_workbench.proxy.client import ToxiproxyClient
from chaos_workbench.proxy.server_process import ProxyServerHandle, start_proxy_server
from chaos_workbench.safety.actions import RemoveToxic, RevertAction, SetProxyEnabled

if TYPE_CHECKING:
    from chaos_workbench.safety.net import Lease, SafetyNet

__all__ = ["ToxiproxyBridge"]

_T = TypeVar("_T")


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
        self.run_dir: Path | None = None  # the safety net's, on a configured API
        self._net: SafetyNet | None = None
        self._leases: dict[tuple[str, str], Lease] = {}  # (proxy, toxic or "") → its lease
        self._url = ""

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def connect(
        self, configuration: dict[str, JsonValue], workdir: Path | None, runs_root: Path
    ) -> str:
        """Use the configured API (its faults leased in a run directory under
        ``runs_root``), or start our proxy server; returns the API's URL."""
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
        self._url = str(url)
        self._client = self._run(self._make_client(self._url))
        if not self.embedded:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            self.run_dir = runs_root / f"{stamp}-chaostoolkit-{secrets.token_hex(2)}"
            self._net = self._run(self._open_net(self.run_dir))
        return self._url

    @staticmethod
    async def _open_net(run_dir: Path) -> SafetyNet:
        from chaos_workbench.safety.net import SafetyNet  # starts a watchdog: only when needed

        net = SafetyNet(run_dir)
        await net.__aenter__()
        return net

    def _lease(self, key: tuple[str, str], action: RevertAction) -> None:
        """Lease a fault about to be made (fsynced first); a second one on the same key
        (a toxic made twice, a proxy disabled twice) keeps the first."""
        if self._net is None or key in self._leases:
            return
        what = f"toxic {key[1]!r} on proxy {key[0]!r}" if key[1] else f"proxy {key[0]!r} disabled"
        self._leases[key] = self._net.lease("chaostoolkit", what, [action])

    def _release(self, proxy: str, toxic: str | None = None) -> None:
        """The fault is gone: ``toxic`` None releases everything on ``proxy``."""
        keys = [k for k in self._leases if k[0] == proxy and (toxic is None or k[1] == toxic)]
        for key in keys:
            self._leases.pop(key).release()

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
        if func in ("create_proxy", "modify_proxy", "disable_proxy", "enable_proxy"):
            return await self._change_proxy(client, func, args, configuration, env)
        if func == "delete_proxy":
            try:
                await client.delete_proxy(args["proxy_name"])
            except ProxyError:
                return None  # the extension only logs a warning
            with self._lock:
                self.disabled.discard(args["proxy_name"])
                for key in [k for k in self.toxics if k[0] == args["proxy_name"]]:
                    del self.toxics[key]
            self._release(args["proxy_name"])
            return None
        if func == "reset":
            await client.reset()
            with self._lock:
                self.toxics.clear()
                self.disabled.clear()
            for proxy in {k[0] for k in self._leases}:
                self._release(proxy)
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
            self._release(proxy, name)
            return True
        return await self._create_toxic(func, args)

    async def _change_proxy(
        self,
        client: ToxiproxyClient,
        func: str,
        args: dict[str, Any],
        configuration: dict[str, JsonValue],
        env: dict[str, str],
    ) -> JsonValue:
        """create_proxy, modify_proxy, disable_proxy, enable_proxy (a disable is leased)."""
        name = args["proxy_name"]
        if func == "create_proxy":
            enabled: bool | None = bool(args["enabled"])
        else:
            enabled = {"disable_proxy": False, "enable_proxy": True}.get(func, args.get("enabled"))
        if enabled is False:
            self._lease_disabled(name)  # before the API is asked
        if func == "create_proxy":
            upstream = f"{_env(args['upstream_host'], env)}:{_env(args['upstream_port'], env)}"
            listen = f"{args['listen_host']}:{args['listen_port']}"
            change = client.create_proxy(name, upstream, listen=listen, enabled=bool(enabled))
        else:
            change = client.update_proxy(
                name,
                listen=args.get("listen_address"),
                upstream=args.get("upstream_address"),
                enabled=enabled,
            )
        changed = await self._settled(name, change)
        self._note_enabled(changed.name, changed.enabled)
        _publish_port(changed.name, changed.listen, configuration, env)
        return True

    async def _create_toxic(self, func: str, args: dict[str, Any]) -> JsonValue:
        assert self._client is not None
        if func == "create_toxic":
            kind, stream = str(args["toxic_type"]), str(args["stream"])
            toxicity, attributes = float(args["toxicity"]), dict(args["attributes"] or {})
        else:
            kind, names = SHORTCUTS[func]
            stream, toxicity = "downstream", 1.0
            attributes = {attr: args[param] for param, attr in names.items()}
        proxy, name = str(args["for_proxy"]), str(args["toxic_name"])
        fresh = (proxy, name) not in self._leases
        self._lease((proxy, name), RemoveToxic(api_url=self._url, proxy=proxy, toxic=name))
        try:
            made = await self._client.create_toxic(
                proxy,
                type=kind,
                name=name,
                stream=stream,
                toxicity=toxicity,
                attributes=attributes,
            )
        except BaseException:
            if fresh and (proxy, name) in self._leases:  # refused: nothing to undo
                self._leases.pop((proxy, name)).release()
            raise
        with self._lock:
            self.toxics[(args["for_proxy"], made.name)] = made.type
        return bool(made.name == args["toxic_name"])

    def _lease_disabled(self, proxy: str) -> None:
        self._lease((proxy, ""), SetProxyEnabled(api_url=self._url, proxy=proxy, enabled=True))

    async def _settled(self, proxy: str, change: Coroutine[Any, Any, _T]) -> _T:
        """Await a change to ``proxy``; if the API refuses it, a lease taken for it and
        not backed by a fault already made is released."""
        was_disabled = proxy in self.disabled
        try:
            return await change
        except BaseException:
            if not was_disabled:
                self._release(proxy, "")
            raise

    def _note_enabled(self, proxy: str, enabled: bool) -> None:
        with self._lock:
            if enabled:
                self.disabled.discard(proxy)
            else:
                self.disabled.add(proxy)
        if enabled:
            self._release(proxy, "")

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
        """Remove the leased faults no rollback removed (the safety net's exit), then stop."""

        async def shut() -> None:
            try:
                if self._net is not None:
                    await self._net.aclose()
            finally:
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
