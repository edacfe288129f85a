"""Which proxy and toxic names the API accepts: exactly those it can address afterwards.

A name is one segment of the API's URLs (``/proxies/{proxy}/toxics/{toxic}``). Toxiproxy's
router (gorilla/mux, ``{proxy}`` = ``[^/]+`` matched against the *decoded* path) can never
address a name containing ``/`` even percent-encoded, nor ``.`` or ``..`` (mux cleans them
out of the path, and so do most HTTP clients, RFC 3986's dot-segment removal); Toxiproxy
still creates such proxies, which then cannot be fetched or deleted. We refuse them with
400 instead, and bound the length so the URL of any accepted name fits the request line
(:data:`~chaos_workbench.limits.MAX_NAME_CHARS`). Every other character is fine: braces,
spaces, ``%``, ``?``, ``#``, controls, any Unicode, percent-encoded in the URL.
"""

from __future__ import annotations

from chaos_workbench.limits import MAX_NAME_CHARS

__all__ = ["name_problem"]


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a proxy or a toxic (a phrase), or ``None`` if it can."""
    if len(name) > MAX_NAME_CHARS:
        return f"is longer than {MAX_NAME_CHARS} characters (the limit)"
    if "/" in name:
        return 'contains "/": a name is one segment of the URL, so it could not be addressed'
    if name in (".", ".."):
        return f'is "{name}": URLs drop it as a dot-segment, so it could not be addressed'
    return None
