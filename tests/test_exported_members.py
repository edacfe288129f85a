"""The public surface: everything in ``__all__`` resolves, and the model's names are all in it."""

from __future__ import annotations

import pytest

import chaos_workbench
from chaos_workbench import model


def test_every_name_in_all_resolves() -> None:
    for name in chaos_workbench.__all__:
        getattr(chaos_workbench, name)  # raises AttributeError if missing


def test_the_whole_model_vocabulary_is_exported_top_level() -> None:
    assert set(model.__all__) <= set(chaos_workbench.__all__)


def test_the_design_sketch_entry_points_are_top_level() -> None:
    from chaos_workbench import ChaosWorkbench, Experiment
    from chaos_workbench.workbench import ChaosWorkbench as Direct

    assert ChaosWorkbench is Direct
    exp = Experiment(name="x", fault={"type": "latency", "proxy": "db", "latency_ms": 5})
    assert exp.fault.type == "latency"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = chaos_workbench.Nope  # type: ignore[attr-defined]
