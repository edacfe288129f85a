"""Create, watch and delete Chaos Mesh custom resources through the official client.

Blocking on purpose, like ``safety.executor``: the watchdog and ``cwb cleanup`` call
:func:`delete_resource` from plain loops, and async code calls through
``asyncio.to_thread``. Every wait polls ``GET`` with a deadline (a watch stream would
need its own bounds and reconnects for no gain at one poll every ``poll_s``), and every
request has its own timeout, so nothing here blocks for longer than asked.

Chaos Mesh reports progress in ``status.conditions``: ``Selected`` (its selector matched
pods), ``AllInjected`` (every selected target carries the fault) and ``AllRecovered``.
Deleting a resource makes the controller recover the targets, then drop its finalizer;
the object is gone once the fault is undone, so "gone" is what a revert waits for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from chaos_workbench.errors import WorkbenchError

__all__ = [
    "CHAOS_MESH_GROUP",
    "CHAOS_MESH_VERSION",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "RUN_LABEL",
    "ChaosResources",
    "KubeError",
    "ResourceRef",
    "connect",
    "delete_resource",
]

CHAOS_MESH_GROUP = "chaos-mesh.org"
CHAOS_MESH_VERSION = "v1alpha1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "chaos-workbench"
RUN_LABEL = "chaos-workbench/run"  # the run's id: cleanup deletes only its own run's objects

REQUEST_TIMEOUT_S = 10.0  # one API request; a wait is many of them, under its own deadline
POLL_S = 0.5  # Chaos Mesh reconciles within a second or two; finer polling only costs


class KubeError(WorkbenchError):
    """A Kubernetes API call failed or a wait ran out; the message says which and why."""


class ResourceRef(BaseModel):
    """One Chaos Mesh object: its kind's plural (``networkchaos``), namespace and name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plural: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.plural}/{self.name} in namespace {self.namespace}"


def connect(*, context: str | None = None, kubeconfig: str | None = None) -> Any:
    """A ``CustomObjectsApi`` for ``context`` of ``kubeconfig`` (defaults as kubectl's).

    Returns ``Any``: the official client is untyped.
    """
    try:
        from kubernetes import client, config
    except ImportError:
        raise KubeError(
            "the kubernetes client is not installed: pip install 'chaos-workbench[kubernetes]'"
        ) from None
    try:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise KubeError(f"cannot use kubeconfig {where} (context {context!r}): {exc}") from None
    return client.CustomObjectsApi(api_client)


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _reason(exc: BaseException) -> str:
    """The API server's message when it gave one (a 422 names the field), else the error."""
    body = getattr(exc, "body", None)
    if isinstance(body, str | bytes) and body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if isinstance(message, str):
            return f"{_status_code(exc)}: {message}"
    return f"{type(exc).__name__}: {exc}"


class ChaosResources:
    """Chaos Mesh objects through a ``CustomObjectsApi`` (see :func:`connect`)."""

    def __init__(self, api: Any, *, poll_s: float = POLL_S) -> None:
        self._api = api
        self._poll_s = poll_s

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # ApiException, urllib3's connection errors: all say why
            raise KubeError(f"{what}: {_reason(exc)}") from exc

    def create(self, ref: ResourceRef, manifest: Mapping[str, object]) -> None:
        """Create the object; the API server's refusal (schema, webhook) is the message."""
        self._call(
            f"cannot create {ref}",
            lambda: self._api.create_namespaced_custom_object(
                CHAOS_MESH_GROUP,
                CHAOS_MESH_VERSION,
                ref.namespace,
                ref.plural,
                dict(manifest),
                _request_timeout=REQUEST_TIMEOUT_S,
            ),
        )

    def _named(self, verb: str, ref: ResourceRef, method: str) -> tuple[bool, Any]:
        """Call ``method`` (get or delete) on the named object: (False, None) on a 404."""
        call = getattr(self._api, method)
        try:
            found = call(
                CHAOS_MESH_GROUP,
                CHAOS_MESH_VERSION,
                ref.namespace,
                ref.plural,
                ref.name,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except Exception as exc:
            if _status_code(exc) == 404:
                return False, None
            raise KubeError(f"cannot {verb} {ref}: {_reason(exc)}") from exc
        return True, found

    def get(self, ref: ResourceRef) -> dict[str, Any] | None:
        """The object as the API server has it, or None when there is none."""
        _, found = self._named("read", ref, "get_namespaced_custom_object")
        return found if isinstance(found, dict) else None

    def delete(self, ref: ResourceRef) -> bool:
        """Ask for deletion; False when there was nothing to delete."""
        existed, _ = self._named("delete", ref, "delete_namespaced_custom_object")
        return existed

    def wait_injected(self, ref: ResourceRef, timeout_s: float) -> None:
        """Until Chaos Mesh reports ``AllInjected``; :class:`KubeError` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        conditions: dict[str, str] = {}
        while True:
            found = self.get(ref)
            if found is None:
                raise KubeError(f"{ref} disappeared before Chaos Mesh reported it injected")
            conditions = conditions_of(found)
            if conditions.get("AllInjected") == "True":
                return
            if time.monotonic() >= deadline:
                raise KubeError(
                    f"Chaos Mesh did not report {ref} injected within {timeout_s:g} s "
                    f"(conditions: {_shown(conditions)}){_hint(conditions)}"
                )
            time.sleep(self._poll_s)

    def wait_gone(self, ref: ResourceRef, timeout_s: float) -> None:
        """Until the object is gone (recovered and released by Chaos Mesh), bounded."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.get(ref)
            if found is None:
                return
            if time.monotonic() >= deadline:
                raise KubeError(
                    f"{ref} is still there {timeout_s:g} s after it was deleted (conditions: "
                    f"{_shown(conditions_of(found))}): is the Chaos Mesh controller running? "
                    "The resource's own duration still ends the chaos"
                )
            time.sleep(self._poll_s)


def conditions_of(found: Mapping[str, Any]) -> dict[str, str]:
    """``status.conditions`` as ``{type: status}`` (missing or malformed: empty)."""
    status = found.get("status")
    items = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(items, list):
        return {}
    return {
        str(item["type"]): str(item.get("status"))
        for item in items
        if isinstance(item, dict) and "type" in item
    }


def _shown(conditions: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(conditions.items())) or "none reported"


def _hint(conditions: Mapping[str, str]) -> str:
    if conditions.get("Selected") == "False":
        return ": the selector matched no pod (check the labels and namespaces)"
    if not conditions:
        return ": is Chaos Mesh installed, with its controller running?"
    return ""


def delete_resource(
    resources: ChaosResources, ref: ResourceRef, *, run_id: str, timeout_s: float
) -> str:
    """Delete a run's leftover object and wait until it is gone (the safety net's revert).

    Refuses an object that does not carry this run's labels: a lease names the object, but
    only the labels prove it is still the one this run created (a name may be reused).
    """
    found = resources.get(ref)
    if found is None:
        return f"{ref} already gone"
    metadata = found.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    labels = labels if isinstance(labels, dict) else {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or labels.get(RUN_LABEL) != run_id:
        raise KubeError(f"refused: {ref} does not carry the labels of run {run_id!r}")
    resources.delete(ref)
    resources.wait_gone(ref, timeout_s)
    return f"deleted {ref}"
