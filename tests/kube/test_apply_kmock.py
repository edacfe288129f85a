"""Apply, wait and delete against kmock: a real HTTP fake of the Kubernetes API server,
in-process on a loopback port, driven by the official ``kubernetes`` client through a
kubeconfig file. kmock runs no Chaos Mesh controller and validates nothing, so each test
plays the controller by setting ``status.conditions`` and releasing the finalizer, as
Chaos Mesh does (mocked because no API server can be installed here)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest

from chaos_workbench.chaosmesh import ChaosMeshFault, parse_kube_fault
from chaos_workbench.faults.base import FaultContext, FaultError
from chaos_workbench.host.private import make_private_dir
from chaos_workbench.kube import KubernetesSpec
from chaos_workbench.safety.actions import DeleteCustomResource
from chaos_workbench.safety.executor import execute
from chaos_workbench.safety.leases import LeaseRecord, read_leases, write_lease

RESOURCE = kmock.resource("chaos-mesh.org", "v1alpha1", "networkchaos")
FINALIZER = "chaos-mesh/records"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[kmock.KubernetesEmulator, str]]:
    """The fake API server and a kubeconfig file pointing at it."""
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
            f"clusters: [{{name: fake, cluster: {{server: '{str(server.url).rstrip('/')}'}}}}]\n"
            "users: [{name: me, user: {}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: me}}]\n"
        )
        yield emulator, str(kubeconfig)


def _fault(tmp_path: Path, kubeconfig: str, **kube: Any) -> ChaosMeshFault:
    params = parse_kube_fault(
        {"type": "latency", "latency_ms": 100, "duration_s": 5, "pods": {"labels": {"app": "db"}}}
    )
    spec = KubernetesSpec(namespace="shop", context="fake", kubeconfig=kubeconfig, **kube)
    ctx = FaultContext(run_dir=tmp_path / "run-1", rng=__import__("random").Random(1))
    return ChaosMeshFault(params, ctx, kube=spec, index=0, experiment="slow db")


def _object(emulator: kmock.KubernetesEmulator, name: str) -> Any | None:
    key = (RESOURCE, "shop", name)
    if key not in emulator.objects or emulator.objects[key].deleted:
        return None
    return emulator.objects[key]


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _controller(emulator: kmock.KubernetesEmulator, name: str, *, inject: bool) -> None:
    """Chaos Mesh's part: add the finalizer, report injection, release on deletion."""
    await _until(lambda: _object(emulator, name) is not None)
    obj = _object(emulator, name)
    status = "True" if inject else "False"
    obj.patch(
        {
            "metadata": {"finalizers": [FINALIZER]},
            "status": {
                "conditions": [
                    {"type": "Selected", "status": "True"},
                    {"type": "AllInjected", "status": status},
                ]
            },
        }
    )
    await _until(
        lambda: (_object(emulator, name) or {}).get("metadata", {}).get("deletionTimestamp")
    )
    await asyncio.sleep(0.3)  # recovering the pods takes a moment: the revert must wait for it
    # Chaos Mesh drops its finalizer; the API server then removes the object (done here
    # directly: kmock garbage-collects released objects only on some requests).
    emulator.objects[RESOURCE, "shop", name].delete()


async def test_apply_waits_for_injection_and_revert_until_gone(
    cluster: tuple[kmock.KubernetesEmulator, str], tmp_path: Path
) -> None:
    emulator, kubeconfig = cluster
    fault = _fault(tmp_path, kubeconfig)
    [action] = fault.revert_actions()  # known before anything exists: the lease holds it
    assert isinstance(action, DeleteCustomResource)
    assert _object(emulator, action.name) is None
    controller = asyncio.create_task(_controller(emulator, action.name, inject=True))
    await fault.apply()
    created = _object(emulator, action.name)
    assert created is not None  # the very object the lease names
    assert created["spec"]["duration"] == "125s"  # hold 5 s + the default 120 s margin
    assert created["metadata"]["labels"]["chaos-workbench/run"] == fault.run_id == action.run_id
    started = time.monotonic()
    await fault.revert()
    assert time.monotonic() - started >= 0.25  # it waited for the controller to let go
    assert _object(emulator, action.name) is None
    await controller
    await fault.revert()  # idempotent: nothing left, no error


async def test_injection_never_reported_is_a_bounded_error_and_the_object_is_deleted(
    cluster: tuple[kmock.KubernetesEmulator, str], tmp_path: Path
) -> None:
    emulator, kubeconfig = cluster
    fault = _fault(tmp_path, kubeconfig, inject_timeout_s=1.0)
    name = fault.ref.name
    controller = asyncio.create_task(_controller(emulator, name, inject=False))
    started = time.monotonic()
    with pytest.raises(
        FaultError, match=r"did not report .* injected within 1 s.*deleted it again"
    ):
        await fault.apply()
    # 1 s timeout + one poll (0.5 s) + the controller's release (0.3 s) + request slack.
    assert 1.0 <= time.monotonic() - started < 4.0
    assert _object(emulator, name) is None
    await controller


async def test_revert_runs_when_the_experiment_fails_after_apply(
    cluster: tuple[kmock.KubernetesEmulator, str], tmp_path: Path
) -> None:
    emulator, kubeconfig = cluster
    fault = _fault(tmp_path, kubeconfig)
    controller = asyncio.create_task(_controller(emulator, fault.ref.name, inject=True))

    async def experiment() -> None:
        try:
            await fault.apply()
            raise RuntimeError("the hold failed")
        finally:
            await fault.revert()

    with pytest.raises(RuntimeError, match="the hold failed"):
        await experiment()
    assert _object(emulator, fault.ref.name) is None
    await controller


async def test_the_executor_deletes_a_leftover_of_its_run_only(
    cluster: tuple[kmock.KubernetesEmulator, str], tmp_path: Path
) -> None:
    """What the watchdog and ``cwb cleanup`` do with the lease of a dead run."""
    emulator, kubeconfig = cluster
    fault = _fault(tmp_path, kubeconfig)
    controller = asyncio.create_task(_controller(emulator, fault.ref.name, inject=True))
    await fault.apply()  # ... and the controller dies: nobody reverts in-process
    [action] = fault.revert_actions()
    outcome = await asyncio.to_thread(execute, action)
    assert outcome.ok, outcome.detail
    assert outcome.detail.startswith("deleted networkchaos/")
    assert _object(emulator, action.name) is None
    await controller
    again = await asyncio.to_thread(execute, action)
    assert again.ok
    assert "already gone" in again.detail
    # An object of that name without the run's labels is not ours: refused, kept.
    emulator.objects[RESOURCE, "shop", action.name] = {
        "metadata": {"name": action.name, "namespace": "shop", "labels": {}}
    }
    refused = await asyncio.to_thread(execute, action)
    assert not refused.ok
    assert "refused" in refused.detail
    assert _object(emulator, action.name) is not None


async def test_an_unreachable_cluster_is_a_clear_fault_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    fault = _fault(tmp_path, str(kubeconfig))
    with pytest.raises(FaultError, match="cannot use kubeconfig"):
        await fault.apply()


@pytest.mark.slow  # starts cwb in a child process (a few seconds each)
async def test_cwb_cleanup_deletes_the_object_a_dead_run_left_behind(
    cluster: tuple[kmock.KubernetesEmulator, str], tmp_path: Path
) -> None:
    """The lease is written before the object exists (as the engine does); the run dies
    after creating it; ``cwb cleanup``, a separate process, deletes it through the lease."""
    emulator, kubeconfig = cluster
    fault = _fault(tmp_path, kubeconfig)
    run_dir = make_private_dir(fault.ctx.run_dir)
    record = LeaseRecord(
        id="lease-1",
        experiment="slow db",
        fault=fault.describe(),
        created_at="2026-12-03T00:00:00Z",
        actions=tuple(fault.revert_actions()),
    )
    write_lease(run_dir, record)
    controller = asyncio.create_task(_controller(emulator, fault.ref.name, inject=True))
    await fault.apply()
    assert _object(emulator, fault.ref.name) is not None
    cleanup = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chaos_workbench.cli",
        "cleanup",
        str(run_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(cleanup.communicate(), timeout=60)
    assert cleanup.returncode == 0, (out + err).decode()
    assert f"deleted networkchaos/{fault.ref.name}" in out.decode()
    assert _object(emulator, fault.ref.name) is None
    await controller
    leases, _ = read_leases(run_dir)
    assert leases == []  # carried out: the lease is gone
