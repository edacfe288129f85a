"""Which model validates a fault of a Kubernetes suite, and what is refused and why.

While a suite with a ``kubernetes:`` section is validated (:func:`kubernetes_suite`), the
suite schema hands each fault mapping to :func:`parse_kube_fault` instead of the fault
registry. A kind with no Chaos Mesh equivalent is refused with the reason, located at its
``type`` so the report points at the line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic import Field, ValidationError, create_model
from pydantic_core import PydanticCustomError

from chaos_workbench.chaosmesh.spec import (
    ClockSkewParams,
    CpuPressureParams,
    DownParams,
    HttpAbortParams,
    HttpErrorParams,
    HttpLatencyParams,
    IoStressParams,
    KubeFaultParams,
    LatencyParams,
    MemoryPressureParams,
    ProcessKillParams,
    ProcessRestartParams,
    ToxicParams,
)

__all__ = [
    "REFUSED",
    "in_kubernetes_suite",
    "kube_fault_models",
    "kubernetes_suite",
    "parse_kube_fault",
]

_MODELS: tuple[type[KubeFaultParams], ...] = (
    LatencyParams,
    DownParams,
    ToxicParams,
    HttpErrorParams,
    HttpLatencyParams,
    HttpAbortParams,
    ProcessKillParams,
    ProcessRestartParams,
    CpuPressureParams,
    MemoryPressureParams,
    ClockSkewParams,
    IoStressParams,
)

REFUSED: Mapping[str, str] = {
    "disk_fill": "Chaos Mesh has no chaos that fills a disk; io_stress (IOChaos) makes file "
    "operations slow or fail instead",
    "process_pause": "Chaos Mesh cannot pause a process (chaos-mesh issue #1924); "
    "process_kill with action: pod-failure makes the pod unavailable instead",
}
"""Local fault kinds with no Chaos Mesh equivalent, and why (anything else unknown is refused)."""


def kube_fault_models() -> dict[str, type[KubeFaultParams]]:
    """Every fault ``type`` a Kubernetes suite accepts, with its model."""
    return {str(m.model_fields["type"].default): m for m in _MODELS}


@functools.cache
def _with_offset(model: type[KubeFaultParams]) -> type[KubeFaultParams]:
    """``model`` plus ``at_s``, for an item of a compound experiment's ``faults:``."""
    offset: Any = (float, Field(default=0.0, ge=0, le=86_400, allow_inf_nan=False))
    return create_model(model.__name__, __base__=model, at_s=offset)


def parse_kube_fault(
    value: object, context: object = None, *, offset: bool = False
) -> KubeFaultParams:
    """Validate one fault mapping of a Kubernetes suite (refusals located at ``type``).

    ``offset``: the mapping is an item of ``faults:`` and may carry ``at_s`` as well.
    """
    if isinstance(value, KubeFaultParams):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected a mapping with a 'type' key")
    kind = value.get("type")
    models = kube_fault_models()
    known = ", ".join(sorted(models))
    if not isinstance(kind, str):
        raise _type_error(f"Field required: the kind of fault to inject (known: {known})", kind)
    if kind in REFUSED:
        raise _type_error(f"{kind!r} cannot run on Kubernetes: {REFUSED[kind]}", kind)
    if kind not in models:
        raise _type_error(
            f"{kind!r} has no Chaos Mesh equivalent (a Kubernetes suite takes: {known})", kind
        )
    model = _with_offset(models[kind]) if offset else models[kind]
    return model.model_validate(value, context=context)


def _type_error(message: str, kind: object) -> ValidationError:
    error = PydanticCustomError("kubernetes_fault", message)
    return ValidationError.from_exception_data(
        "fault", [{"type": error, "loc": ("type",), "input": kind}]
    )


_IN_KUBERNETES_SUITE: ContextVar[bool] = ContextVar("in_kubernetes_suite", default=False)


@contextmanager
def kubernetes_suite(active: bool) -> Iterator[None]:
    """While validating a suite with a ``kubernetes:`` section, faults are the ones here.

    A context variable rather than pydantic's validation context: the suite's own
    validator knows whether the section is there, and the context is the caller's.
    """
    token = _IN_KUBERNETES_SUITE.set(active)
    try:
        yield
    finally:
        _IN_KUBERNETES_SUITE.reset(token)


def in_kubernetes_suite() -> bool:
    return _IN_KUBERNETES_SUITE.get()
