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
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from chaos_workbench.aio import AsyncResource
from chaos_workbench.proxy._go_json import go_attribute_error
from chaos_workbench.proxy._names import name_problem
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
from chaos_workbench.proxy.listen_address import check_address, probe_listen, resolved_listen
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


class ProxyManager(AsyncResource):
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
        if problem := name_problem(name):
            raise BadRequestBody(f"name {problem}")
        if name in self._proxies:
            raise ProxyAlreadyExists()
        if enabled:
            await probe_listen(listen)
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
        """Change a proxy. A new listen or upstream address restarts it (open links drop).

        The new addresses are checked (and the new listen address test-bound) *before* the
        proxy is stopped, so an update that cannot succeed answers its error and leaves the
        proxy exactly as it was: listening, with every open connection (Toxiproxy stops the
        proxy first and leaves it disabled).
        """
        runtime = self._runtime(name)
        new_listen = runtime.listen if listen is None else listen
        new_upstream = runtime.upstream if upstream is None else upstream
        want_enabled = runtime.enabled if enabled is None else enabled
        moving = new_listen != runtime.listen or new_upstream != runtime.upstream
        if moving and want_enabled:
            check_address(new_upstream)
            # The address this proxy holds now is free once it stops.
            if not (runtime.enabled and new_listen == runtime.listen):
                await probe_listen(new_listen)
        if moving:
            was_enabled = runtime.enabled
            old = (runtime.listen, runtime.upstream)
            await runtime.stop()
            runtime.listen, runtime.upstream = new_listen, new_upstream
            if want_enabled:
                try:
                    await runtime.start()
                except ApiError:
                    # Only if the address was taken between the probe and the bind.
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
        toxics); one that differs is stopped and replaced. Every new listen address is
        test-bound before anything is replaced, so a populate that fails changes nothing.
        """
        names: set[str] = set()
        for i, spec in enumerate(specs, start=1):
            if not spec.name:
                raise MissingField(f"name at proxy {i}")
            if not spec.upstream:
                raise MissingField(f"upstream at proxy {i}")
            if problem := name_problem(spec.name):
                raise BadRequestBody(f"name at proxy {i} {problem}")
            if spec.name in names:
                raise ApiError(f'duplicate proxy name "{spec.name}"')
            names.add(spec.name)
        # A running proxy's listen is its bound address ("localhost:80" shows as
        # "127.0.0.1:80"), so an entry is compared by its resolved address, as Toxiproxy's
        # Proxy.Differs does: re-populating an unchanged entry keeps the proxy and its toxics.
        resolved = {spec.name: await resolved_listen(spec.listen) for spec in specs}
        await self._check_listeners(specs, resolved)
        result: builtins.list[ProxyInfo] = []
        for spec in specs:
            existing = self._proxies.get(spec.name)
            if existing is not None:
                if (existing.listen, existing.upstream) == (resolved[spec.name], spec.upstream):
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
        if problem := name_problem(name):
            raise BadRequestBody(f"name {problem}")
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

    # -- helpers -------------------------------------------------------------------------
    async def _check_listeners(
        self, specs: Sequence[ProxySpec], resolved: Mapping[str, str]
    ) -> None:
        """Refuse a populate whose new listeners cannot bind, before anything is replaced.

        Entries are applied one by one; without this a bind failure on entry 3 would answer
        500 after entries 1 and 2 were replaced. An address that a replaced, running proxy
        holds now counts as free (it is released first); two entries may not share one.
        ``resolved`` is each entry's listen address as :func:`~chaos_workbench.proxy.listen_address.resolved_listen` gives it.
        """
        changing = [
            s
            for s in specs
            if s.enabled
            and (
                (current := self._proxies.get(s.name)) is None
                or (current.listen, current.upstream) != (resolved[s.name], s.upstream)
            )
        ]
        released = {
            self._proxies[s.name].listen
            for s in changing
            if s.name in self._proxies and self._proxies[s.name].enabled
        }
        claimed: set[tuple[str, int]] = set()
        for spec in changing:
            check_address(spec.upstream)
            await probe_listen(spec.listen, claimed, bind=resolved[spec.name] not in released)

    def _runtime(self, name: str) -> ProxyRuntime:
        runtime = self._proxies.get(name)
        if runtime is None:
            raise ProxyNotFound()
        return runtime

    @staticmethod
    def _attributes(
        cls: type[toxic_base.Toxic[Any]], raw: Mapping[str, object]
    ) -> toxic_base.ToxicAttributes:
        # Go's decoder first (an int64 attribute given 1e20 or "5": Toxiproxy's message).
        if problem := go_attribute_error(cls.go_struct(), cls.go_int_fields(), raw):
            raise BadRequestBody(problem)
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
