"""A Kubernetes suite's faults as Chaos Mesh objects: names, labels, duration, YAML.

Every object is named and labelled for its run (``cwb-<run id>-<experiment index>``,
``app.kubernetes.io/managed-by: chaos-workbench``, ``chaos-workbench/run: <run id>``) and
carries Chaos Mesh's own ``duration``: the hold plus ``kubernetes.duration_margin_s``, so
the cluster ends the chaos by itself when nobody deletes the object.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaos_workbench.chaosmesh.spec import KubeFaultParams
from chaos_workbench.kube.client import (
    CHAOS_MESH_GROUP,
    CHAOS_MESH_VERSION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RUN_LABEL,
    ResourceRef,
)
from chaos_workbench.kube.spec import KubernetesSpec

__all__ = ["PlannedFault", "chaos_duration", "render", "render_yaml", "resource_ref", "run_id_for"]

MAX_RUN_ID = 40  # leaves room for "cwb-", the index and the 63-character label value limit


def run_id_for(run_dir: Path) -> str:
    """A label-safe run id from the run directory: its name, cut, plus a hash of the path."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_dir.name.lower()).strip("-")[: MAX_RUN_ID - 9]
    digest = hashlib.sha256(str(run_dir.absolute()).encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest


def plural(params: KubeFaultParams) -> str:
    """The resource name of the kind in the API (``NetworkChaos`` → ``networkchaos``)."""
    return params.chaos_kind.lower()


def resource_ref(
    params: KubeFaultParams, kube: KubernetesSpec, run_id: str, index: int
) -> ResourceRef:
    """Where experiment ``index``'s object lives."""
    return ResourceRef(
        plural=plural(params), namespace=kube.namespace, name=f"cwb-{run_id}-{index}"
    )


def chaos_duration(hold_s: float, kube: KubernetesSpec) -> str:
    """Chaos Mesh's ``duration``: the hold plus the margin, whole seconds rounded up."""
    return f"{math.ceil(hold_s + kube.duration_margin_s)}s"


def render(
    params: KubeFaultParams,
    *,
    kube: KubernetesSpec,
    run_id: str,
    index: int,
    hold_s: float,
    experiment: str = "",
) -> dict[str, Any]:
    """The whole object, ready for the API (or ``kubectl apply``)."""
    ref = resource_ref(params, kube, run_id, index)
    metadata: dict[str, Any] = {
        "name": ref.name,
        "namespace": ref.namespace,
        "labels": {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id},
    }
    if experiment:
        metadata["annotations"] = {"chaos-workbench/experiment": experiment}
    spec = {**params.chaos_spec(kube.namespace), "duration": chaos_duration(hold_s, kube)}
    return {
        "apiVersion": f"{CHAOS_MESH_GROUP}/{CHAOS_MESH_VERSION}",
        "kind": params.chaos_kind,
        "metadata": metadata,
        "spec": spec,
    }


@dataclass(frozen=True)
class PlannedFault:
    """One experiment of a suite, as far as rendering needs it."""

    name: str
    params: KubeFaultParams
    hold_s: float


def render_yaml(kube: KubernetesSpec, planned: Sequence[PlannedFault], run_id: str) -> str:
    """Every object of a suite, as multi-document YAML (``cwb kube render``)."""
    documents = [
        render(p.params, kube=kube, run_id=run_id, index=i, hold_s=p.hold_s, experiment=p.name)
        for i, p in enumerate(planned)
    ]
    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
