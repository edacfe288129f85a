"""The package's public surface is exactly ``__all__``, and every toxic type is registered."""

from __future__ import annotations

import types

import chaos_workbench.proxy.http as http_toxics
from chaos_workbench.proxy.toxics.base import all_types


def test_all_is_complete_and_sorted() -> None:
    public = {
        name
        for name, value in vars(http_toxics).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(http_toxics.__all__) == public
    assert list(http_toxics.__all__) == sorted(http_toxics.__all__)


def test_types_are_registered() -> None:
    registered = all_types()
    for cls in (
        http_toxics.HttpErrorToxic,
        http_toxics.HttpLatencyToxic,
        http_toxics.HttpAbortToxic,
        http_toxics.HttpHeaderToxic,
    ):
        assert registered[cls.type_name] is cls
    assert {"http_error", "http_latency", "http_abort", "http_header"} <= set(registered)
