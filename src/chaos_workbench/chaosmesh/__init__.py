"""Faults in Kubernetes through Chaos Mesh: a suite's faults as Chaos Mesh objects.

A suite with a ``kubernetes:`` section aims its faults at pods (``pods:`` selectors);
``spec`` validates them (refusing what Chaos Mesh cannot do, with the reason), ``render``
turns each into a named, labelled object with its own ``duration``, and ``fault`` applies
and reverts it through ``chaos_workbench.kube``. See ``docs/kubernetes.md``.

It sits above ``faults`` (it implements their interface) and below ``experiments`` (which
composes its models into the suite schema).
"""

from __future__ import annotations

from chaos_workbench.chaosmesh.dispatch import REFUSED, kube_fault_models, parse_kube_fault
from chaos_workbench.chaosmesh.fault import ChaosMeshFault
from chaos_workbench.chaosmesh.render import (
    PlannedFault,
    chaos_duration,
    render,
    render_yaml,
    resource_ref,
    run_id_for,
)
from chaos_workbench.chaosmesh.selector import PodSelector
from chaos_workbench.chaosmesh.spec import KubeFaultParams

__all__ = [
    "REFUSED",
    "ChaosMeshFault",
    "KubeFaultParams",
    "PlannedFault",
    "PodSelector",
    "chaos_duration",
    "kube_fault_models",
    "parse_kube_fault",
    "render",
    "render_yaml",
    "resource_ref",
    "run_id_for",
]
