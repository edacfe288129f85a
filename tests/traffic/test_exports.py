"""The public surfaces of traffic and probes: ``__all__`` names exactly what is public."""

from __future__ import annotations

import types

import pytest

import chaos_workbench.probes as probes
import chaos_workbench.traffic as traffic


@pytest.mark.parametrize("module", [traffic, probes])
def test_all_is_complete_and_sorted(module: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(module.__all__) == public
    assert list(module.__all__) == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
