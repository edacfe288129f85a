"""The functions of Chaos Toolkit's Toxiproxy extension (``chaostoxi``), as signatures.

An activity's arguments are bound to these (chaostoolkit-toxiproxy 0.3's names and
defaults), so a wrong argument is a validation error before the run, as with the extension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PREFIX", "SHORTCUTS", "native_function"]

PREFIX = "chaostoxi."


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
SHORTCUTS: dict[str, tuple[str, dict[str, str]]] = {
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
