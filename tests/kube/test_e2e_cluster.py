"""End to end against a real cluster with Chaos Mesh (kind or k3d: docs/kubernetes.md).

Runs only when ``KUBECONFIG`` is set. It creates a NetworkChaos on pods labelled
``$CWB_KUBE_SELECTOR`` (default ``app=echo``) in ``$CWB_KUBE_NAMESPACE`` (default
``default``), waits for Chaos Mesh to report it injected, and reverts it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from chaos_workbench.chaosmesh import ChaosMeshFault, parse_kube_fault
from chaos_workbench.faults.base import FaultContext
from chaos_workbench.kube import ChaosResources, KubernetesSpec, connect

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="needs a real cluster with Chaos Mesh installed: set KUBECONFIG "
    "(docs/kubernetes.md shows the kind and k3d commands)",
)


@pytest.mark.slow
async def test_a_network_delay_is_injected_and_reverted_on_a_real_cluster(tmp_path: Path) -> None:
    namespace = os.environ.get("CWB_KUBE_NAMESPACE", "default")
    key, _, value = os.environ.get("CWB_KUBE_SELECTOR", "app=echo").partition("=")
    params = parse_kube_fault(
        {"type": "latency", "latency_ms": 100, "duration_s": 10, "pods": {"labels": {key: value}}}
    )
    spec = KubernetesSpec(namespace=namespace)
    ctx = FaultContext(run_dir=tmp_path / "e2e", rng=random.Random(1))
    fault = ChaosMeshFault(params, ctx, kube=spec, index=0)
    resources = ChaosResources(connect())
    try:
        await fault.apply()
        assert resources.get(fault.ref) is not None
    finally:
        await fault.revert()
    assert resources.get(fault.ref) is None
