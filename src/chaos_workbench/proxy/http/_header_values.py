"""Validation shared by the toxics that take header names and values from users."""

from __future__ import annotations

from typing import Final

from chaos_workbench.proxy.http._match import check_header_name, check_header_value

__all__ = ["FRAMING_HEADERS", "header_map", "header_names"]

# Changing these would make the proxy's idea of where a message ends differ from the
# peers' (and invite request smuggling), so no toxic may set or remove them.
FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding"})


def header_map(value: object) -> tuple[tuple[str, str], ...]:
    """``{"Name": "value"}`` (or pairs) → validated pairs; raises ValueError."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = [tuple(p) for p in value]
    else:
        raise ValueError("expected an object of header names to values")
    out = []
    for item in items:
        if len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise ValueError(f"header {item!r} is not a name and a string value")
        name, val = item
        if check_header_name(name).lower() in FRAMING_HEADERS:
            raise ValueError(f"{name} frames the message; the proxy sets it, not a toxic")
        out.append((name, check_header_value(val)))
    return tuple(out)


def header_names(value: object) -> tuple[str, ...]:
    """``["Name", ...]`` → validated names; raises ValueError."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(x, str) for x in value):
        raise ValueError("expected a list of header names")
    for name in value:
        if check_header_name(name).lower() in FRAMING_HEADERS:
            raise ValueError(f"{name} frames the message; the proxy sets it, not a toxic")
    return tuple(value)
