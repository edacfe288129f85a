"""The Toxiproxy 2.x REST API over :class:`~chaos_workbench.proxy.manager.ProxyManager`.

Existing Toxiproxy clients (toxiproxy-python, the Go client, toxiproxy-cli, testcontainers)
must work unchanged, so this module reproduces Toxiproxy's ``api.go`` where a client can see
it: routes and methods, JSON shapes and field order, defaults, status codes (201 created
proxy and populate, 200 added toxic, 204 deletes and reset), error bodies
``{"error": message, "status": N}`` with Toxiproxy's messages (``proxy.errors``, one named
table), 403 ``User agent not allowed`` for browsers (Toxiproxy's guard against cross-site
requests), and Go's JSON decoding rules for request bodies: the first JSON value is read,
unknown keys are ignored, ``null`` keeps a default, keys match case-insensitively, and a
value of the wrong type is ``bad request body`` (both directions of Go's JSON are in
``_api_json``; this module holds the routes, handlers and the server).

Every request is validated completely before the manager is called, and the manager is
called once per request, under one lock (as Toxiproxy holds its collection lock), so a
rejected request changes nothing. Handlers run with a 25 s deadline (Toxiproxy's
``timeoutMiddleware``): the API never hangs, whatever a toxic does. Its connections are
guarded by ``_api_guard`` (a read deadline, a cap on their number, unknown methods routed).

``/populate`` answers its errors as Toxiproxy's handler does, not through ``http.Error``:
``{"error": message, "status": N, "proxies": null}`` without a trailing newline.

Deliberate differences (``docs/proxy.md``): a proxy created without ``listen`` binds
127.0.0.1 on an ephemeral port (Toxiproxy: every interface); toxicity outside 0..1 is
refused; error bodies are sent as ``application/json`` (Go's ``http.Error`` labels them
text/plain); ``/populate`` answers ``"proxies": []`` rather than ``null`` when empty; an
update whose new listen address cannot be bound leaves the proxy running as it was; names
the API could not address afterwards (with ``/``, ``.``, ``..``, over 1,024 characters)
are refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from prometheus_client import CollectorRegistry

from chaos_workbench._version import __version__
from chaos_workbench.aio import AsyncResource
from chaos_workbench.limits import (
    API_IDLE_TIMEOUT_S,
    API_READ_TIMEOUT_S,
    MAX_API_BODY_BYTES,
    MAX_API_REQUEST_LINE_BYTES,
    max_api_connections,
)
from chaos_workbench.proxy import errors
from chaos_workbench.proxy._api_guard import ConnectionGuard, GuardedSite, bind_listener
from chaos_workbench.proxy._api_json import (
    Body,
    decode,
    decode_object,
    error_response,
    json_kind,
    json_response,
    populate_error_response,
    proxy_json,
    toxic_json,
    validated,
)
from chaos_workbench.proxy.manager import ProxyManager
from chaos_workbench.proxy.models import ProxySpec, ToxicInfo, ToxicSpec, ToxicUpdate
from chaos_workbench.proxy.prom import CONTENT_TYPE, metrics_registry, render

__all__ = ["DEFAULT_LISTEN", "TOXIPROXY_VERSION", "VERSION_HEADER", "ApiServer", "build_app"]

TOXIPROXY_VERSION = "2.12.0"  # the Toxiproxy API this one matches
# /version answers Toxiproxy's version alone: clients parse it (Ruby's Gem::Version refuses
# "2.12.0+cwb.0.1.0" and falls back to pre-2.0 verbs). Ours travels in a header instead.
VERSION = TOXIPROXY_VERSION
VERSION_HEADER = "X-Chaos-Workbench-Version"
DEFAULT_LISTEN = "127.0.0.1:0"
REQUEST_DEADLINE_S = 25.0  # Toxiproxy's timeoutMiddleware
# The element type PopulateJson decodes into, as Go's reflect prints it in decode errors.
_POPULATE_ITEM = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
_MANAGER_KEY = web.AppKey("manager", ProxyManager)
_LOCK_KEY = web.AppKey("lock", asyncio.Lock)

_REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- handlers ----------------------------------------------------------------------------------


def _manager(request: web.Request) -> ProxyManager:
    return request.app[_MANAGER_KEY]


def _segment(request: web.Request, index: int) -> str:
    # A name in the URL, percent-decoded from the raw path (aiohttp's match_info leaves an
    # escape of invalid UTF-8 such as %ED%A0%80 as its text, which could then name the
    # proxy literally called "%ED%A0%80"). Invalid UTF-8 decodes to lone surrogates, which
    # no stored name contains (bodies replace them with U+FFFD): not found, as in Go.
    raw = request.rel_url.raw_path.split("/")[index]
    return unquote(raw, errors="surrogateescape")


def _proxy_name(request: web.Request) -> str:
    return _segment(request, 2)  # /proxies/{proxy}


def _toxic_name(request: web.Request) -> str:
    return _segment(request, 4)  # /proxies/{proxy}/toxics/{toxic}


async def proxy_index(request: web.Request) -> web.Response:
    proxies = _manager(request).list()
    return json_response({p.name: proxy_json(p) for p in proxies})


async def proxy_create(request: web.Request) -> web.Response:
    body = await decode_object(request, "toxiproxy.Proxy")
    name, listen = body.string("name"), body.string("listen")
    upstream, enabled = body.string("upstream"), body.boolean("enabled")
    if not name:
        raise errors.MissingField("name")
    if not upstream:
        raise errors.MissingField("upstream")
    async with request.app[_LOCK_KEY]:
        proxy = await _manager(request).create(
            name, listen or DEFAULT_LISTEN, upstream, enabled=True if enabled is None else enabled
        )
    return json_response(proxy_json(proxy), status=201)


async def populate(request: web.Request) -> web.Response:
    try:
        specs = await _populate_specs(request)
        async with request.app[_LOCK_KEY]:
            proxies = await _manager(request).populate(specs)
    except errors.ApiError as exc:
        # Toxiproxy's Populate handler marshals its error beside "proxies" itself instead of
        # going through http.Error: no trailing newline, and a nil list is null.
        return populate_error_response(exc)
    return json_response({"proxies": [proxy_json(p) for p in proxies]}, status=201)


async def _populate_specs(request: web.Request) -> list[ProxySpec]:
    value = await decode(request)
    if not isinstance(value, list):
        raise errors.BadRequestBody(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type []{_POPULATE_ITEM}"
        )
    specs: list[ProxySpec] = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise errors.BadRequestBody(
                f"json: cannot unmarshal {json_kind(item)} into Go value of type {_POPULATE_ITEM}"
            )
        body = Body(item, "")  # an anonymous struct: Go names its fields ".name"
        name, listen = body.string("name"), body.string("listen")
        upstream, enabled = body.string("upstream"), body.boolean("enabled")
        if not name:
            raise errors.MissingField(f"name at proxy {index}")
        if not upstream:
            raise errors.MissingField(f"upstream at proxy {index}")
        specs.append(
            ProxySpec(
                name=name,
                listen=listen or DEFAULT_LISTEN,
                upstream=upstream,
                enabled=True if enabled is None else enabled,
            )
        )
    return specs


async def proxy_show(request: web.Request) -> web.Response:
    proxy = _manager(request).get(_proxy_name(request))
    return json_response(proxy_json(proxy))


async def proxy_update(request: web.Request) -> web.Response:
    manager = _manager(request)
    current = manager.get(_proxy_name(request))  # 404 before the body, as Toxiproxy
    body = await decode_object(request, "toxiproxy.Proxy")
    listen, upstream = body.string("listen"), body.string("upstream")
    enabled = body.boolean("enabled")
    async with request.app[_LOCK_KEY]:
        proxy = await manager.update(
            current.name,
            listen=listen if listen is not None else None,
            upstream=upstream if upstream is not None else None,
            enabled=enabled,
        )
    return json_response(proxy_json(proxy))


async def proxy_delete(request: web.Request) -> web.Response:
    async with request.app[_LOCK_KEY]:
        await _manager(request).delete(_proxy_name(request))
    return web.Response(status=204)


async def toxic_index(request: web.Request) -> web.Response:
    toxics = _manager(request).toxics(_proxy_name(request))
    return json_response([toxic_json(t) for t in toxics])


async def toxic_create(request: web.Request) -> web.Response:
    manager = _manager(request)
    proxy = manager.get(_proxy_name(request)).name
    body = await decode_object(request, "toxics.ToxicWrapper")
    fields: dict[str, Any] = {}
    for key in ("name", "type", "stream"):
        value = body.string(key)
        if value is not None:
            fields[key] = value
    toxicity = body.number("toxicity")
    if toxicity is not None:
        fields["toxicity"] = toxicity
    attributes = body.mapping("attributes")
    if attributes is not None:
        fields["attributes"] = attributes
    ttl = body.int64("ttl_ms")  # our extension: the toxic removes itself when it expires
    if ttl is not None:
        fields["ttl_ms"] = ttl
    fields.setdefault("type", "")
    spec = validated(ToxicSpec, fields)
    async with request.app[_LOCK_KEY]:
        toxic = manager.add_toxic(proxy, spec)
    return json_response(toxic_json(toxic))  # 200, not 201: Toxiproxy's status


async def toxic_show(request: web.Request) -> web.Response:
    return json_response(toxic_json(_find_toxic(request)))


async def toxic_update(request: web.Request) -> web.Response:
    manager = _manager(request)
    toxic = _find_toxic(request)  # 404s before the body, as Toxiproxy
    body = await decode_object(request, "struct { Attributes interface {}; Toxicity float32 }")
    fields: dict[str, Any] = {}
    attributes = body.mapping("attributes")
    if attributes is not None:
        fields["attributes"] = attributes
    toxicity = body.number("toxicity")
    if toxicity is not None:
        fields["toxicity"] = toxicity
    update = validated(ToxicUpdate, fields)
    async with request.app[_LOCK_KEY]:
        updated = manager.update_toxic(_proxy_name(request), toxic.name, update)
    return json_response(toxic_json(updated))


async def toxic_delete(request: web.Request) -> web.Response:
    manager = _manager(request)
    manager.get(_proxy_name(request))
    async with request.app[_LOCK_KEY]:
        manager.remove_toxic(_proxy_name(request), _toxic_name(request))
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    async with request.app[_LOCK_KEY]:
        await _manager(request).reset()
    return web.Response(status=204)


async def version(request: web.Request) -> web.Response:
    # Toxiproxy ≥ 2.6 sends exactly this text, newline included.
    return web.Response(
        text=f'{{"version": "{VERSION}"}}\n',
        headers={"Content-Type": "application/json;charset=utf-8", VERSION_HEADER: __version__},
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[_REGISTRY_KEY]
    return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})


def _find_toxic(request: web.Request) -> ToxicInfo:
    return _manager(request).get_toxic(_proxy_name(request), _toxic_name(request))


# -- middleware, routes, server ----------------------------------------------------------------


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Toxiproxy's middleware chain: refuse browsers, map errors, bound the time."""
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        # Toxiproxy's stopBrowsersMiddleware: no cross-site requests from a web page.
        return web.Response(
            text="User agent not allowed\n",
            status=403,
            headers={"X-Content-Type-Options": "nosniff"},
        )
    try:
        async with asyncio.timeout(REQUEST_DEADLINE_S):
            return await handler(request)
    except errors.ApiError as exc:
        return error_response(exc)
    except TimeoutError:
        return web.Response(status=503)  # Go's TimeoutHandler with an empty message
    except web.HTTPMethodNotAllowed:
        return web.Response(status=405)  # gorilla/mux: empty body
    except web.HTTPNotFound:
        return web.Response(
            text="404 page not found\n",
            status=404,
            headers={"X-Content-Type-Options": "nosniff"},
        )


def build_app(manager: ProxyManager, guard: ConnectionGuard | None = None) -> web.Application:
    """The aiohttp application serving the Toxiproxy API over ``manager``."""
    middlewares = [_guard] if guard is None else [guard.middleware, _guard]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_API_BODY_BYTES)
    app[_MANAGER_KEY] = manager
    app[_LOCK_KEY] = asyncio.Lock()
    app[_REGISTRY_KEY] = metrics_registry(manager.stats)
    # gorilla/mux's {name} is [^/]+: braces too (aiohttp's default, [^{}/]+, is not).
    proxy, toxic = "/proxies/{proxy:[^/]+}", "/toxics/{toxic:[^/]+}"
    routes = app.router
    routes.add_post("/reset", reset)
    routes.add_get("/proxies", proxy_index, allow_head=False)
    routes.add_post("/proxies", proxy_create)
    routes.add_post("/populate", populate)
    routes.add_get(proxy, proxy_show, allow_head=False)
    routes.add_post(proxy, proxy_update)  # deprecated in Toxiproxy, still served
    routes.add_patch(proxy, proxy_update)
    routes.add_delete(proxy, proxy_delete)
    routes.add_get(proxy + "/toxics", toxic_index, allow_head=False)
    routes.add_post(proxy + "/toxics", toxic_create)
    routes.add_get(proxy + toxic, toxic_show, allow_head=False)
    routes.add_post(proxy + toxic, toxic_update)
    routes.add_patch(proxy + toxic, toxic_update)
    routes.add_delete(proxy + toxic, toxic_delete)
    routes.add_get("/version", version, allow_head=False)
    routes.add_get("/metrics", metrics, allow_head=False)
    return app


class ApiServer(AsyncResource):
    """The API listening on ``host:port`` (port 0: ephemeral) in the running event loop.

    ``read_timeout_s`` bounds the time to receive one request (Toxiproxy's 15 s),
    ``max_connections`` the connections kept open (default: from ``RLIMIT_NOFILE``); see
    ``_api_guard`` and ``chaos_workbench.limits``.
    """

    def __init__(
        self,
        manager: ProxyManager,
        *,
        host: str = "127.0.0.1",
        port: int = 8474,
        read_timeout_s: float = API_READ_TIMEOUT_S,
        max_connections: int | None = None,
    ) -> None:
        self._manager = manager
        self._host = host
        self._port = port
        self.guard = ConnectionGuard(
            read_timeout_s=read_timeout_s,
            max_connections=max_connections or max_api_connections(),
        )
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        if self.address is None:
            raise RuntimeError("the API server is not started")
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind and serve; raises OSError when the address cannot be bound."""
        sock = bind_listener(self._host, self._port)
        runner = web.AppRunner(
            build_app(self._manager, self.guard),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=API_IDLE_TIMEOUT_S,
            max_line_size=MAX_API_REQUEST_LINE_BYTES,
        )
        await runner.setup()
        try:
            await GuardedSite(runner, sock, self.guard).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        host, port = sock.getsockname()[:2]
        self.address = (host, port)

    async def aclose(self) -> None:
        """Stop serving (idempotent). The manager is the caller's to close."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_enter(self) -> None:
        await self.start()
