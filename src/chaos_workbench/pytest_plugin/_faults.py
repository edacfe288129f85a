"""``@pytest.mark.cwb_faults("latency:500", "down", "http_error:503")``: one test per fault.

A fault is written ``NAME`` or ``NAME:ARG,...,KEY=VALUE,...``. ``NAME`` is a method of
:class:`~chaos_workbench.pytest_plugin.Proxy` (``latency``, ``down``, ``http_error``,
``bandwidth``...; positional and keyword arguments go to it), any other registered toxic
type (keyword attributes only, e.g. ``corrupt:probability=0.01``), or ``none`` (no fault:
a baseline case). Values are read as int, float or true/false, else kept as text.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos_workbench.pytest_plugin._proxies import Proxy

__all__ = ["Fault", "parse_fault"]

Scalar = int | float | bool | str

METHODS = (
    "latency",
    "down",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "limit_time",
    "http_error",
    "http_latency",
    "http_abort",
    "http_header",
)


@dataclass(frozen=True)
class Fault:
    """One fault of a ``cwb_faults`` marker: ``with cwb_fault(proxy): ...`` applies it."""

    spec: str
    name: str
    args: tuple[Scalar, ...] = ()
    kwargs: Mapping[str, Scalar] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.spec

    def __call__(self, proxy: Proxy) -> contextlib.AbstractContextManager[Any]:
        """A context manager holding this fault on ``proxy`` (reverted on exit)."""
        if self.name == "none":
            return contextlib.nullcontext()
        if self.name in METHODS:
            method = getattr(proxy, self.name)
            manager: contextlib.AbstractContextManager[Any] = method(*self.args, **self.kwargs)
            return manager
        attributes: dict[str, Any] = dict(self.kwargs)
        return proxy.toxic(self.name, **attributes)


def _value(text: str) -> Scalar:
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _toxic_types() -> set[str]:
    from chaos_workbench.proxy.toxics import all_types

    importlib.import_module("chaos_workbench.proxy.http")  # registers the HTTP toxic types
    return set(all_types())


def parse_fault(spec: str) -> Fault:
    """Parse ``NAME[:ARG,...,KEY=VALUE,...]``; ``ValueError`` says what is wrong."""
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    known = {"none", *METHODS} | _toxic_types()
    if name not in known:
        raise ValueError(
            f"cwb_faults: unknown fault {spec!r}: {name!r} is none of {', '.join(sorted(known))}"
        )
    args: list[Scalar] = []
    kwargs: dict[str, Scalar] = {}
    for item in (part.strip() for part in rest.split(",") if part.strip()):
        key, eq, value = item.partition("=")
        if eq:
            kwargs[key.strip()] = _value(value.strip())
        elif kwargs:
            raise ValueError(f"cwb_faults: {spec!r}: positional {item!r} after a keyword")
        else:
            args.append(_value(item))
    if args and name not in METHODS:
        raise ValueError(f"cwb_faults: {spec!r}: give {name} attributes as KEY=VALUE")
    if name in ("none", "down") and (args or kwargs):
        raise ValueError(f"cwb_faults: {spec!r}: {name} takes no arguments")
    return Fault(spec, name, tuple(args), kwargs)
