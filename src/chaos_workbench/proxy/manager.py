"""The proxy server's state: every proxy and toxic, changed only through :class:`ProxyManager`.

One manager per proxy process, used from its event loop (the REST API, the CLI and the
engine's embedded proxies all go through it). Each method checks its input in the order
Toxiproxy's ``api.go`` / ``toxic_collection.go`` do, raises the matching
:mod:`~chaos_workbench.proxy.errors` error, and changes nothing when it raises. Toxic
methods are synchronous: they re-link the chains of every open connection on the spot
(flushing held bytes), so removing a toxic cannot hang, whatever the load.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib
import itertools
import random
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from chaos_workbench.proxy.errors import (
    ApiError,
    BadRequestBody,
    InvalidStream,
    InvalidToxicType,
    MissingField,
    ProxyAlreadyExists,
    ProxyNotFound,
    ToxicAlreadyExists,
    ToxicNotFound,
)
from chaos_workbench.proxy.listener import ProxyRuntime, ToxicEntry
from chaos_workbench.proxy.models import (
    ProxyInfo,
    ProxySpec,
    ProxyStats,
    Stream,
    ToxicInfo,
    ToxicSpec,
    ToxicUpdate,
)
from chaos_workbench.proxy.timing import Clock
from chaos_workbench.proxy.toxics import base as toxic_base

__all__ = ["ProxyManager", "load_toxic_types"]

_loaded = False


def load_toxic_types() -> None:
    """Import the built-in toxics and the HTTP toxics (each registers itself)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("chaos_workbench.proxy.toxics")
    try:
        importlib.import_module("chaos_workbench.proxy.http")
    except ModuleNotFoundError as exc:  # the HTTP layer is optional at import time
        if exc.name not in ("chaos_workbench.proxy.http",):
            raise


def _validation_detail(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


class ProxyManager:
    """All proxies of one server process. Create and use it inside the running event loop."""

    def __init__(self, *, rng: random.Random) -> None:
        load_toxic_types()
        self.rng = rng
        self._proxies: dict[str, ProxyRuntime] = {}
        self._seq = itertools.count(1)
        self._clock: Clock | None = None

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            self._clock = Clock()
        return self._clock

    # -- proxies -------------------------------------------------------------------------
    async def create(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyInfo:
        """Add a proxy; ``listen`` port 0 picks a free port (reported in the result)."""
        if not name:
            raise MissingField("name")
        if not upstream:
            raise MissingField("upstream")
        if name in self._proxies:
            raise ProxyAlreadyExists()
        runtime = ProxyRuntime(name, listen, upstream, rng=self.rng, clock=self.clock)
        if enabled:
            await runtime.start()
        self._proxies[name] = runtime
        return self._info(runtime)

    def get(self, name: str) -> ProxyInfo:
        return self._info(self._runtime(name))

    def list(self) -> builtins.list[ProxyInfo]:
        return [self._info(r) for r in self._proxies.values()]

    async def update(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> ProxyInfo:
        """Change a proxy. A new listen or upstream address restarts it (open links drop)."""
        runtime = self._runtime(name)
        new_listen = runtime.listen if listen is None else listen
        new_upstream = runtime.upstream if upstream is None else upstream
        want_enabled = runtime.enabled if enabled is None else enabled
        if new_listen != runtime.listen or new_upstream != runtime.upstream:
            was_enabled = runtime.enabled
            old = (runtime.listen, runtime.upstream)
            await runtime.stop()
            runtime.listen, runtime.upstream = new_listen, new_upstream
            if want_enabled:
                try:
                    await runtime.start()
                except ApiError:
                    runtime.listen, runtime.upstream = old
                    if was_enabled:
                        await runtime.start()
                    raise
        elif want_enabled and not runtime.enabled:
            await runtime.start()
        elif not want_enabled and runtime.enabled:
            await runtime.stop()
        return self._info(runtime)

    async def delete(self, name: str) -> None:
        runtime = self._runtime(name)
        del self._proxies[name]
        for entry_name in list(runtime.toxics):
            runtime.remove_toxic(entry_name)
        await runtime.stop()

    async def populate(self, specs: Sequence[ProxySpec]) -> builtins.list[ProxyInfo]:
        """Toxiproxy's ``/populate``: check every entry first, then create or replace each.

        An existing proxy with the same listen and upstream is kept as it is (with its
        toxics); one that differs is stopped and replaced.
        """
        names: set[str] = set()
        for i, spec in enumerate(specs, start=1):
            if not spec.name:
                raise MissingField(f"name at proxy {i}")
            if not spec.upstream:
                raise MissingField(f"upstream at proxy {i}")
            if spec.name in names:
                raise ApiError(f'duplicate proxy name "{spec.name}"')
            names.add(spec.name)
        result: builtins.list[ProxyInfo] = []
        for spec in specs:
            existing = self._proxies.get(spec.name)
            if existing is not None:
                if existing.listen == spec.listen and existing.upstream == spec.upstream:
                    result.append(self._info(existing))
                    continue
                await self.delete(spec.name)
            result.append(await self.create(spec.name, spec.listen, spec.upstream, spec.enabled))
        return result

    # -- toxics --------------------------------------------------------------------------
    def add_toxic(self, proxy: str, spec: ToxicSpec) -> ToxicInfo:
        """Add a toxic to a proxy and to its open connections."""
        runtime = self._runtime(proxy)
        try:
            stream = Stream(spec.stream)
        except ValueError:
            raise InvalidStream() from None
        name = spec.name or f"{spec.type}_{stream.value}"
        try:
            cls = toxic_base.get_type(spec.type)
        except KeyError:
            raise InvalidToxicType() from None
        if name in runtime.toxics:
            raise ToxicAlreadyExists()
        attributes = self._attributes(cls, spec.attributes)
        info = ToxicInfo(
            attributes=attributes, name=name, type=spec.type, stream=stream, toxicity=spec.toxicity
        )
        entry = ToxicEntry(
            info=info, toxic=cls(attributes), seq=next(self._seq), counter=runtime.counter_for(info)
        )
        if spec.ttl_ms is not None:
            entry.expiry = asyncio.get_running_loop().call_later(
                spec.ttl_ms / 1000, self._expire, runtime, entry
            )
        runtime.add_toxic(entry)
        return info

    def update_toxic(self, proxy: str, toxic: str, changes: ToxicUpdate) -> ToxicInfo:
        """Merge new attributes (and toxicity) into a toxic; open connections get them."""
        runtime = self._runtime(proxy)
        entry = runtime.toxics.get(toxic)
        if entry is None:
            raise ToxicNotFound()
        cls = type(entry.toxic)
        merged = {**entry.info.attributes.model_dump(mode="json"), **changes.attributes}
        attributes = self._attributes(cls, merged)
        toxicity = entry.info.toxicity if changes.toxicity is None else changes.toxicity
        info = entry.info.model_copy(update={"attributes": attributes, "toxicity": toxicity})
        runtime.replace_toxic(
            ToxicEntry(info=info, toxic=cls(attributes), seq=entry.seq, counter=entry.counter)
        )
        return info

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        """Remove a toxic; what it holds on open connections is delivered, not dropped."""
        runtime = self._runtime(proxy)
        if runtime.remove_toxic(toxic) is None:
            raise ToxicNotFound()

    def get_toxic(self, proxy: str, toxic: str) -> ToxicInfo:
        entry = self._runtime(proxy).toxics.get(toxic)
        if entry is None:
            raise ToxicNotFound()
        return entry.info

    def toxics(self, proxy: str) -> builtins.list[ToxicInfo]:
        """A proxy's toxics: upstream ones first, then downstream, each in order added."""
        return self._toxic_infos(self._runtime(proxy))

    # -- whole server --------------------------------------------------------------------
    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (Toxiproxy's ``POST /reset``)."""
        for runtime in self._proxies.values():
            for name in list(runtime.toxics):
                runtime.remove_toxic(name)
            await runtime.start()

    def stats(self) -> builtins.list[ProxyStats]:
        """Live counters of every proxy (cheap: plain ints summed at call time)."""
        return [r.stats() for r in self._proxies.values()]

    async def aclose(self) -> None:
        """Stop every proxy and drop every connection."""
        for name in list(self._proxies):
            await self.delete(name)
        if self._clock is not None:
            self._clock.close()
            self._clock = None

    async def __aenter__(self) -> ProxyManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- helpers -------------------------------------------------------------------------
    def _runtime(self, name: str) -> ProxyRuntime:
        runtime = self._proxies.get(name)
        if runtime is None:
            raise ProxyNotFound()
        return runtime

    @staticmethod
    def _attributes(cls: type[toxic_base.Toxic[Any]], raw: object) -> toxic_base.ToxicAttributes:
        try:
            return cls.attributes_model.model_validate(raw)
        except ValidationError as exc:
            raise BadRequestBody(_validation_detail(exc)) from None

    def _expire(self, runtime: ProxyRuntime, entry: ToxicEntry) -> None:
        if runtime.toxics.get(entry.info.name) is not None and (
            runtime.toxics[entry.info.name].seq == entry.seq
        ):
            runtime.remove_toxic(entry.info.name)

    @staticmethod
    def _toxic_infos(runtime: ProxyRuntime) -> builtins.list[ToxicInfo]:
        entries = runtime.toxic_entries()
        ordered = [e for e in entries if e.info.stream is Stream.UPSTREAM]
        ordered += [e for e in entries if e.info.stream is Stream.DOWNSTREAM]
        return [e.info for e in ordered]

    def _info(self, runtime: ProxyRuntime) -> ProxyInfo:
        return ProxyInfo(
            name=runtime.name,
            listen=runtime.listen,
            upstream=runtime.upstream,
            enabled=runtime.enabled,
            toxics=tuple(self._toxic_infos(runtime)),
        )
