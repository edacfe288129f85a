"""A Kubernetes suite through the engine (``execute_suite``, as ``cwb run`` does): its fault
becomes a Chaos Mesh object created during the fault phase and deleted by the revert,
under a lease, against kmock (a real HTTP fake of the API server; it runs no Chaos Mesh
controller, so the test plays it: mocked because no API server can be installed here).
The traffic is real, against a loopback service the fault does not touch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from aiohttp import web

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus, FaultType, ImpactLevel
from chaos_workbench.safety.leases import read_leases

RESOURCE = kmock.resource("chaos-mesh.org", "v1alpha1", "networkchaos")


@pytest.fixture
async def service() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


def _objects(emulator: kmock.KubernetesEmulator) -> list[Any]:
    return [
        obj
        for (resource, namespace, _), obj in list(emulator.objects.items())
        if resource == RESOURCE and namespace == "shop" and not obj.deleted
    ]


async def _controller(emulator: kmock.KubernetesEmulator, seen: list[dict[str, Any]]) -> None:
    """Chaos Mesh's part for the one object the run creates."""
    deadline = time.monotonic() + 30
    while not _objects(emulator):
        assert time.monotonic() < deadline, "no NetworkChaos was created"
        await asyncio.sleep(0.02)
    (obj,) = _objects(emulator)
    seen.append({"metadata": dict(obj["metadata"]), "spec": dict(obj["spec"])})
    obj.patch({"status": {"conditions": [{"type": "AllInjected", "status": "True"}]}})
    while not obj.get("metadata", {}).get("deletionTimestamp") and not obj.deleted:
        assert time.monotonic() < deadline, "the revert did not delete the NetworkChaos"
        await asyncio.sleep(0.02)
    if not obj.deleted:
        obj.delete()


@pytest.mark.slow
async def test_a_kubernetes_suite_runs_its_fault_as_a_chaos_mesh_object(
    service: str, tmp_path: Path
) -> None:
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
            f"clusters: [{{name: fake, cluster: {{server: '{str(server.url).rstrip('/')}'}}}}]\n"
            "users: [{name: me, user: {}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: me}}]\n"
        )
        suite = Suite.model_validate(
            {
                "service": "shop",
                "kubernetes": {
                    "namespace": "shop",
                    "context": "fake",
                    "kubeconfig": str(kubeconfig),
                    "inject_timeout_s": 10,
                },
                "traffic": {"url": service, "rate_per_s": 20},
                "defaults": {"baseline_s": 0.5, "fault_s": 1.0, "recovery_timeout_s": 5},
                "experiments": [
                    {
                        "name": "slow-db",
                        "fault": {
                            "type": "latency",
                            "latency_ms": 100,
                            "pods": {"labels": {"app": "db"}},
                        },
                    }
                ],
            }
        )
        seen: list[dict[str, Any]] = []
        controller = asyncio.create_task(_controller(emulator, seen))
        record = await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
        await asyncio.wait_for(controller, 10)

    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert result.fault_type is FaultType.LATENCY  # the params' category, not the class's
    assert result.impact is ImpactLevel.NONE  # the loopback service is not in the cluster
    (created,) = seen
    assert created["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "chaos-workbench"
    assert created["spec"]["action"] == "delay"
    assert created["spec"]["delay"]["latency"] == "100ms"
    assert _objects(emulator) == []  # deleted by the revert
    leases, problems = read_leases(tmp_path / "run")
    assert leases == []  # released after the revert
    assert problems == []
