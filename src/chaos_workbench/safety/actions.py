"""Revert actions: how to undo a fault from *outside* the process that applied it.

A fault reverts itself in-process with ``Fault.revert()``. For the safety net it also
describes, as plain data, what another process (the watchdog, ``cwb cleanup``) must do to
undo it if the controller dies: these models are written to the lease file before the fault
is applied and carried out by ``safety.executor``. Every action is idempotent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chaos_workbench.host.spawn import LaunchSpec

__all__ = [
    "DeleteCustomResource",
    "DeletePath",
    "KillProcess",
    "KillTagged",
    "RemoveCgroup",
    "RemoveToxic",
    "RevertAction",
    "SetProxyEnabled",
    "SignalProcess",
    "StartProcess",
    "ThawCgroup",
]


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RemoveToxic(_Action):
    """DELETE a toxic through a Toxiproxy-compatible API (404 counts as done)."""

    action: Literal["remove_toxic"] = "remove_toxic"
    api_url: str
    proxy: str
    toxic: str


class SetProxyEnabled(_Action):
    """Re-enable (or disable) a proxy through a Toxiproxy-compatible API."""

    action: Literal["set_proxy_enabled"] = "set_proxy_enabled"
    api_url: str
    proxy: str
    enabled: bool = True


class SignalProcess(_Action):
    """Send ``signal`` to ``pid`` if it is still the same process (matching start time)."""

    action: Literal["signal_process"] = "signal_process"
    pid: int
    create_time: float  # psutil's create_time(), guards against pid reuse
    signal: int
    include_children: bool = False
    cmdline: str = ""  # its command line (space-joined) when the fault acted; checked too


class KillProcess(_Action):
    """SIGKILL a helper process (a hog, a filler) and, optionally, its process group."""

    action: Literal["kill_process"] = "kill_process"
    pid: int
    create_time: float
    process_group: bool = True


class KillTagged(_Action):
    """SIGKILL every process whose environment carries ``CWB_FAULT_TAG=<tag>``.

    Helpers (hogs, fillers, a process restarted under libfaketime) are tagged when they are
    spawned, so this action is known *before* the fault is applied: a crash between the
    spawn and the lease update cannot leave an untracked helper behind.
    """

    action: Literal["kill_tagged"] = "kill_tagged"
    tag: str = Field(min_length=8)


class ThawCgroup(_Action):
    """Thaw a cgroup (v1 ``freezer.state`` or v2 ``cgroup.freeze``); a missing one is fine."""

    action: Literal["thaw_cgroup"] = "thaw_cgroup"
    path: str
    version: Literal[1, 2] = 1


class DeletePath(_Action):
    """Delete a file or directory the fault created."""

    action: Literal["delete_path"] = "delete_path"
    path: str


class RemoveCgroup(_Action):
    """Kill what is left in a cgroup the fault created, then remove it."""

    action: Literal["remove_cgroup"] = "remove_cgroup"
    path: str


class DeleteCustomResource(_Action):
    """Delete a Chaos Mesh object this run created and wait until it is gone.

    Only an object carrying the run's labels is deleted (``kube.delete_resource``); one
    already gone counts as done. The object also ends by its own ``duration``.
    """

    action: Literal["delete_custom_resource"] = "delete_custom_resource"
    context: str | None = None  # kubeconfig context (the current one if unset)
    kubeconfig: str | None = None  # kubeconfig file (kubectl's defaults if unset)
    plural: str
    namespace: str
    name: str
    run_id: str
    timeout_s: float = Field(default=60.0, gt=0, le=3600)


class StartProcess(LaunchSpec):
    """Start a supervised process again (after a kill) unless it is already running.

    The fields are the supervisor's :class:`~chaos_workbench.host.spawn.LaunchSpec`:
    ``StartProcess.of(supervisor.launch_spec(name))``.
    """

    action: Literal["start_process"] = "start_process"

    @classmethod
    def of(cls, launch: LaunchSpec) -> StartProcess:
        return cls(**launch.model_dump())


RevertAction = Annotated[
    RemoveToxic
    | SetProxyEnabled
    | SignalProcess
    | KillProcess
    | DeletePath
    | RemoveCgroup
    | StartProcess
    | KillTagged
    | ThawCgroup
    | DeleteCustomResource,
    Field(discriminator="action"),
]
