"""A Kubernetes suite's fault: one Chaos Mesh object, created, confirmed, deleted.

``apply`` creates the object and waits (bounded by ``kubernetes.inject_timeout_s``) until
Chaos Mesh reports ``AllInjected``; if it never does, the object is deleted again before
the error is raised, so a fault that did not take leaves nothing behind. ``revert``
deletes it and waits until it is gone (Chaos Mesh recovers the pods before it lets the
object go). ``revert_actions`` is the same deletion for the watchdog and ``cwb cleanup``,
known before the object exists: the engine writes it to the lease before ``apply``.

The blocking client runs in a thread (``asyncio.to_thread``); a wait already in that thread
finishes at its own deadline even when the caller is cancelled, and the revert that
follows deletes the object either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar

from chaos_workbench.chaosmesh.render import render, resource_ref, run_id_for
from chaos_workbench.chaosmesh.spec import KubeFaultParams
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.faults.base import Fault, FaultContext, FaultError
from chaos_workbench.kube.client import ChaosResources, KubeError, ResourceRef, connect
from chaos_workbench.kube.spec import KubernetesSpec
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import DeleteCustomResource, RevertAction

__all__ = ["ChaosMeshFault"]

DEFAULT_HOLD_S = 600.0  # the engine always sets duration_s; a caller that does not gets this


class ChaosMeshFault(Fault[KubeFaultParams]):
    """Any fault of a Kubernetes suite (the params say which Chaos Mesh kind)."""

    kind: ClassVar[str] = "chaos_mesh"
    fault_type: ClassVar[FaultType] = FaultType.NETWORK  # see :attr:`reported_type`
    params_model: ClassVar[type[KubeFaultParams]] = KubeFaultParams

    def __init__(
        self,
        params: KubeFaultParams,
        ctx: FaultContext,
        *,
        kube: KubernetesSpec,
        index: int,
        experiment: str = "",
        run_id: str | None = None,
        resources: ChaosResources | None = None,
    ) -> None:
        super().__init__(params, ctx)
        self.kube = kube
        self.index = index
        self.experiment = experiment
        self.run_id = run_id or run_id_for(ctx.run_dir)
        self._resources = resources
        self._created = False

    @property
    def reported_type(self) -> FaultType:
        """The category of the local fault of the same ``type`` (a ``latency`` is latency
        here too), so results compare across machines and clusters."""
        return fault_registry.get(self.params.type).fault_type

    @property
    def ref(self) -> ResourceRef:
        return resource_ref(self.params, self.kube, self.run_id, self.index)

    @property
    def hold_s(self) -> float:
        return self.params.duration_s or DEFAULT_HOLD_S

    def manifest(self) -> dict[str, object]:
        return render(
            self.params,
            kube=self.kube,
            run_id=self.run_id,
            index=self.index,
            hold_s=self.hold_s,
            experiment=self.experiment,
        )

    def _client(self) -> ChaosResources:
        if self._resources is None:
            api = connect(context=self.kube.context, kubeconfig=self.kube.kubeconfig)
            self._resources = ChaosResources(api)
        return self._resources

    async def apply(self) -> None:
        if self._created:
            return  # applied already: idempotent
        ref = self.ref
        try:
            resources = await asyncio.to_thread(self._client)
            await asyncio.to_thread(resources.create, ref, self.manifest())
        except KubeError as exc:
            raise FaultError(str(exc)) from exc
        self._created = True
        try:
            await asyncio.to_thread(resources.wait_injected, ref, self.kube.inject_timeout_s)
        except KubeError as exc:
            undone = await self._delete()
            self._created = undone is not None
            raise FaultError(
                f"{exc}; " + ("deleted it again" if undone is None else f"and {undone}")
            ) from exc

    async def _delete(self) -> str | None:
        """Delete the object and wait until it is gone; the problem as text, or None."""
        try:
            resources = await asyncio.to_thread(self._client)
            await asyncio.to_thread(resources.delete, self.ref)
            await asyncio.to_thread(resources.wait_gone, self.ref, self.kube.recover_timeout_s)
        except KubeError as exc:
            return str(exc)
        return None

    async def revert(self) -> None:
        # Delete whether or not apply said it created the object: a create whose answer was
        # lost may have taken effect. Deleting an absent object is not an error.
        problem = await self._delete()
        if problem is not None:
            raise FaultError(problem)
        self._created = False

    def revert_actions(self) -> Sequence[RevertAction]:
        ref = self.ref
        return (
            DeleteCustomResource(
                context=self.kube.context,
                kubeconfig=self.kube.kubeconfig,
                plural=ref.plural,
                namespace=ref.namespace,
                name=ref.name,
                run_id=self.run_id,
                timeout_s=self.kube.recover_timeout_s,
            ),
        )

    def describe(self) -> str:
        pods = ",".join(f"{k}={v}" for k, v in self.params.pods.labels.items())
        action = self.params.chaos_spec(self.kube.namespace).get("action")
        what = f"{self.params.chaos_kind} {action}" if action else self.params.chaos_kind
        return f"{self.params.type} as {what} on pods {pods} ({self.params.pods.mode})"
