"""The Kubernetes API, as far as the workbench needs it: custom resources of Chaos Mesh.

This package sits low (beside ``probes`` and ``proxy``) on purpose: the safety net's
executor deletes a leftover resource through :func:`~chaos_workbench.kube.client.delete_resource`
when a run died, so it must not depend on faults or suites. It talks through the official
``kubernetes`` client (the ``kubernetes`` extra), imported only when a cluster is used.
What a suite's fault becomes in Chaos Mesh lives in ``chaos_workbench.chaosmesh``.

Exceptions::

    KubeError (WorkbenchError)   an API call failed or a wait ran out (reason in the message)
"""

from __future__ import annotations

from chaos_workbench.kube.client import (
    CHAOS_MESH_GROUP,
    CHAOS_MESH_VERSION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RUN_LABEL,
    ChaosResources,
    KubeError,
    ResourceRef,
    connect,
    delete_resource,
)
from chaos_workbench.kube.spec import KubernetesSpec

__all__ = [
    "CHAOS_MESH_GROUP",
    "CHAOS_MESH_VERSION",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "RUN_LABEL",
    "ChaosResources",
    "KubeError",
    "KubernetesSpec",
    "ResourceRef",
    "connect",
    "delete_resource",
]
