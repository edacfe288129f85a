"""docs/suite-format.md documents every field of the suite format (it must not drift)."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from chaos_workbench.experiments.schema import Suite
from chaos_workbench.faults import FaultParams

DOC = Path(__file__).parents[2] / "docs" / "suite-format.md"


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            stack.extend(typing.get_args(annotation))
            if (
                isinstance(annotation, type)
                and issubclass(annotation, BaseModel)
                and not issubclass(annotation, FaultParams)  # faults document themselves
                and annotation not in seen
            ):
                _models(annotation, seen)
    return seen


def test_every_suite_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(
        f"{model.__name__}.{field.alias or name}"
        for model in _models(Suite, set())
        for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in text
    )
    assert missing == []
