"""Which class runs a suite's fault: the registry's by ``type``, or Chaos Mesh's.

In a suite with a ``kubernetes:`` section every fault is a Chaos Mesh object
(:class:`~chaos_workbench.chaosmesh.fault.ChaosMeshFault`, whichever its ``type``); in any
other suite the fault registry picks the class by ``type``. The engine builds every fault
through :func:`make_fault` (the preflight, the experiment, the parallel scheduler), so the
two never diverge.
"""

from __future__ import annotations

import itertools
from typing import Any

from chaos_workbench.experiments.schema import Suite
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.faults.base import Fault, FaultContext, FaultParams
from chaos_workbench.model import FaultType

__all__ = ["fault_type_of", "make_fault"]

# Chaos Mesh objects are named cwb-<run>-<index>: one counter for the whole process keeps
# the names of one run (and of its copies, whose run ids differ anyway) distinct.
_INDEX = itertools.count(1)


def make_fault(
    params: FaultParams, ctx: FaultContext, suite: Suite, *, experiment: str = ""
) -> Fault[Any]:
    """The fault object for ``params`` in ``suite``."""
    if suite.kubernetes is not None:
        from chaos_workbench.chaosmesh.fault import ChaosMeshFault
        from chaos_workbench.chaosmesh.spec import KubeFaultParams

        if not isinstance(params, KubeFaultParams):  # the suite's validator made them so
            raise TypeError(f"a Kubernetes suite's fault must be Chaos Mesh's, not {params!r}")
        return ChaosMeshFault(
            params, ctx, kube=suite.kubernetes, index=next(_INDEX), experiment=experiment
        )
    return fault_registry.get(params.type)(params, ctx)


def fault_type_of(params: FaultParams) -> FaultType:
    """The design sketch's category of a fault, without building it."""
    # A Chaos Mesh fault reports the category of the local fault of its type (reported_type).
    return fault_registry.get(params.type).fault_type
