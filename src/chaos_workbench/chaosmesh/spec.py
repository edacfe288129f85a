"""The faults of a Kubernetes suite: the same ``type`` names, aimed at pods by a selector.

In a suite with a ``kubernetes:`` section, each fault is validated by the model here for
its ``type`` instead of the local one (``chaosmesh.dispatch`` chooses, and refuses kinds
with no Chaos Mesh equivalent), and becomes one Chaos Mesh object (``chaosmesh.render``).
The rules of Chaos Mesh's admission webhooks that its CRD schemas lack are checked here.

Units follow the local faults (``latency_ms``, ``load_pct``); the conversion to Chaos
Mesh's strings (``"200ms"``, ``"512kbps"``) happens in :meth:`KubeFaultParams.chaos_spec`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from chaos_workbench.chaosmesh.selector import PodSelector
from chaos_workbench.faults.base import FaultParams
from chaos_workbench.model import FaultType

__all__ = [
    "ClockSkewParams",
    "CpuPressureParams",
    "DownParams",
    "HttpAbortParams",
    "HttpErrorParams",
    "HttpLatencyParams",
    "IoStressParams",
    "KubeFaultParams",
    "LatencyParams",
    "MemoryPressureParams",
    "ProcessKillParams",
    "ProcessRestartParams",
    "ToxicParams",
]

Network = Literal["to", "from", "both"]
Port = Field(ge=1, le=65_535, description="The TCP port the target pods serve HTTP on.")


class KubeFaultParams(FaultParams):
    """A fault aimed at pods. Subclasses name their Chaos Mesh kind and build its spec."""

    chaos_kind: ClassVar[str]
    fault_type: ClassVar[FaultType]
    pods: PodSelector

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        """The kind-specific part of ``spec`` (selector included; duration added later)."""
        return self.pods.chaos_selector(namespace)


def _ms(value_ms: float) -> str:
    return f"{round(value_ms)}ms"


class _NetworkParams(KubeFaultParams):
    chaos_kind: ClassVar[str] = "NetworkChaos"
    fault_type: ClassVar[FaultType] = FaultType.NETWORK
    direction: Network = Field(default="to", description="to, from or both (of the pods).")
    target: PodSelector | None = Field(default=None, description="Only traffic to these pods.")
    external_targets: tuple[str, ...] = Field(
        default=(), max_length=64, description="Only traffic to these IPs or hostnames."
    )

    @model_validator(mode="after")
    def _direction(self) -> _NetworkParams:
        # Chaos Mesh's webhook: 'from' and 'both' need a target (external only for partition).
        external_ok = bool(self.external_targets) and isinstance(self, DownParams)
        if self.direction != "to" and self.target is None and not external_ok:
            raise ValueError(f"direction {self.direction!r} needs 'target' (other pods)")
        if self.external_targets and self.direction != "to" and not isinstance(self, DownParams):
            raise ValueError("external_targets works with direction 'to' only")
        return self

    def network(self, namespace: str, action: str) -> dict[str, Any]:
        spec = {**super().chaos_spec(namespace), "action": action, "direction": self.direction}
        if self.target is not None:
            spec["target"] = self.target.chaos_selector(namespace)
        if self.external_targets:
            spec["externalTargets"] = list(self.external_targets)
        return spec


class LatencyParams(_NetworkParams):
    """``latency`` → NetworkChaos ``delay``."""

    type: Literal["latency"] = "latency"
    latency_ms: int = Field(ge=0, le=3_600_000)
    jitter_ms: int = Field(default=0, ge=0, le=3_600_000)

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        delay = {"latency": _ms(self.latency_ms), "jitter": _ms(self.jitter_ms)}
        return {**self.network(namespace, "delay"), "delay": delay}


class DownParams(_NetworkParams):
    """``down`` → NetworkChaos ``partition`` (packets dropped, connections hang)."""

    type: Literal["down"] = "down"

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        return self.network(namespace, "partition")


NO_TOXIC = (
    "the {name} toxic cuts or reshapes a TCP stream inside the fault proxy; Chaos Mesh's "
    "NetworkChaos shapes packets (delay, loss, bandwidth, partition) and has no equivalent"
)


class ToxicParams(_NetworkParams):
    """``toxic`` → NetworkChaos ``bandwidth`` or ``loss``; other toxics are refused."""

    type: Literal["toxic"] = "toxic"
    toxic: str
    rate_kb_per_s: int | None = Field(default=None, ge=1, le=10_000_000, description="bandwidth")
    limit_bytes: int = Field(default=20_971_520, ge=1, le=2**31 - 1, description="bandwidth queue")
    buffer_bytes: int = Field(default=10_000, ge=1, le=2**31 - 1, description="bandwidth burst")
    loss_pct: float | None = Field(default=None, gt=0, le=100, description="loss")

    @field_validator("toxic")
    @classmethod
    def _has_equivalent(cls, value: str) -> str:
        if value not in ("bandwidth", "loss"):
            raise ValueError(NO_TOXIC.format(name=repr(value)))
        return value

    @model_validator(mode="after")
    def _known(self) -> ToxicParams:
        needed, other = (
            ("rate_kb_per_s", "loss_pct")
            if self.toxic == "bandwidth"
            else ("loss_pct", "rate_kb_per_s")
        )
        if getattr(self, needed) is None:
            raise ValueError(f"the {self.toxic} toxic needs {needed!r}")
        if getattr(self, other) is not None:
            raise ValueError(f"{other!r} belongs to the other toxic, not {self.toxic}")
        return self

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        if self.toxic == "loss":
            return {**self.network(namespace, "loss"), "loss": {"loss": f"{self.loss_pct:g}"}}
        assert self.rate_kb_per_s is not None  # _known
        bandwidth = {
            "rate": f"{self.rate_kb_per_s * 8}kbps",  # Toxiproxy's KB/s in tc's kilobits/s
            "limit": self.limit_bytes,
            "buffer": self.buffer_bytes,
        }
        return {**self.network(namespace, "bandwidth"), "bandwidth": bandwidth}


class _HttpParams(KubeFaultParams):
    chaos_kind: ClassVar[str] = "HTTPChaos"
    port: int = Port
    path: str = Field(default="*", min_length=1, max_length=1024, description="Glob, e.g. /api/*")
    method: str | None = Field(default=None, pattern=r"^[A-Z]{3,7}$")

    def http(self, namespace: str, target: str) -> dict[str, Any]:
        spec = {**super().chaos_spec(namespace), "target": target, "port": self.port}
        spec["path"] = self.path
        if self.method is not None:
            spec["method"] = self.method
        return spec


class HttpErrorParams(_HttpParams):
    """``http_error`` → HTTPChaos replacing the response's status code."""

    fault_type: ClassVar[FaultType] = FaultType.ERROR
    type: Literal["http_error"] = "http_error"
    status: int = Field(default=503, ge=200, le=599)

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        return {**self.http(namespace, "Response"), "replace": {"code": self.status}}


class HttpLatencyParams(_HttpParams):
    """``http_latency`` → HTTPChaos ``delay`` on requests (or responses)."""

    fault_type: ClassVar[FaultType] = FaultType.LATENCY
    type: Literal["http_latency"] = "http_latency"
    latency_ms: int = Field(ge=1, le=3_600_000)
    stage: Literal["Request", "Response"] = "Request"

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        return {**self.http(namespace, self.stage), "delay": _ms(self.latency_ms)}


class HttpAbortParams(_HttpParams):
    """``http_abort`` → HTTPChaos ``abort`` (the connection is cut)."""

    fault_type: ClassVar[FaultType] = FaultType.ERROR
    type: Literal["http_abort"] = "http_abort"

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        return {**self.http(namespace, "Request"), "abort": True}


class _PodParams(KubeFaultParams):
    chaos_kind: ClassVar[str] = "PodChaos"
    fault_type: ClassVar[FaultType] = FaultType.PROCESS
    action: Literal["pod-kill", "container-kill", "pod-failure"]
    containers: tuple[str, ...] = Field(default=(), max_length=64)
    grace_period_s: int = Field(default=0, ge=0, le=3600, description="pod-kill only")

    @model_validator(mode="after")
    def _containers(self) -> _PodParams:
        if self.action == "container-kill" and not self.containers:
            raise ValueError("action 'container-kill' needs 'containers' (their names)")
        return self

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        spec = {**super().chaos_spec(namespace), "action": self.action}
        if self.containers:
            spec["containerNames"] = list(self.containers)
        if self.action == "pod-kill" and self.grace_period_s:
            spec["gracePeriod"] = self.grace_period_s
        return spec


class ProcessKillParams(_PodParams):
    """``process_kill`` → PodChaos ``pod-kill`` (default), ``container-kill``, ``pod-failure``."""

    type: Literal["process_kill"] = "process_kill"
    action: Literal["pod-kill", "container-kill", "pod-failure"] = "pod-kill"


class ProcessRestartParams(_PodParams):
    """``process_restart`` → PodChaos ``container-kill`` (kubelet restarts it) or ``pod-kill``."""

    type: Literal["process_restart"] = "process_restart"
    action: Literal["pod-kill", "container-kill", "pod-failure"] = "container-kill"


class _StressParams(KubeFaultParams):
    chaos_kind: ClassVar[str] = "StressChaos"
    fault_type: ClassVar[FaultType] = FaultType.RESOURCE_EXHAUSTION
    workers: int = Field(default=1, ge=1, le=256)
    containers: tuple[str, ...] = Field(default=(), max_length=64)

    def stress(self, namespace: str, stressors: dict[str, Any]) -> dict[str, Any]:
        spec = {**super().chaos_spec(namespace), "stressors": stressors}
        if self.containers:
            spec["containerNames"] = list(self.containers)
        return spec


class CpuPressureParams(_StressParams):
    """``cpu_pressure`` → StressChaos ``cpu`` stressors."""

    type: Literal["cpu_pressure"] = "cpu_pressure"
    load_pct: int = Field(default=100, ge=1, le=100)

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        return self.stress(namespace, {"cpu": {"workers": self.workers, "load": self.load_pct}})


class MemoryPressureParams(_StressParams):
    """``memory_pressure`` → StressChaos ``memory`` stressors (``size_mb`` or ``percent``)."""

    type: Literal["memory_pressure"] = "memory_pressure"
    size_mb: int | None = Field(default=None, ge=1, le=1_048_576)
    percent: int | None = Field(default=None, ge=1, le=100, description="Of the pod's memory.")

    @model_validator(mode="after")
    def _one_size(self) -> MemoryPressureParams:
        if (self.size_mb is None) == (self.percent is None):
            raise ValueError("give exactly one of 'size_mb' or 'percent'")
        return self

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        size = f"{self.size_mb}MB" if self.size_mb is not None else f"{self.percent}%"
        return self.stress(namespace, {"memory": {"workers": self.workers, "size": size}})


class ClockSkewParams(KubeFaultParams):
    """``clock_skew`` → TimeChaos ``timeOffset``."""

    chaos_kind: ClassVar[str] = "TimeChaos"
    fault_type: ClassVar[FaultType] = FaultType.CLOCK
    type: Literal["clock_skew"] = "clock_skew"
    offset_s: float = Field(ge=-31_536_000, le=31_536_000, allow_inf_nan=False)
    containers: tuple[str, ...] = Field(default=(), max_length=64)

    @model_validator(mode="after")
    def _nonzero(self) -> ClockSkewParams:
        if round(self.offset_s * 1000) == 0:
            raise ValueError("'offset_s' must move the clock by at least 1 ms")
        return self

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        spec = {**super().chaos_spec(namespace), "timeOffset": _ms(self.offset_s * 1000)}
        if self.containers:
            spec["containerNames"] = list(self.containers)
        return spec


class IoStressParams(KubeFaultParams):
    """``io_stress`` → IOChaos: ``latency`` on file operations, or ``fault`` (an errno)."""

    chaos_kind: ClassVar[str] = "IOChaos"
    fault_type: ClassVar[FaultType] = FaultType.RESOURCE_EXHAUSTION
    type: Literal["io_stress"] = "io_stress"
    volume_path: str = Field(min_length=1, max_length=4096, description="A mount in the pod.")
    path: str | None = Field(default=None, max_length=4096, description="Glob under it.")
    action: Literal["latency", "fault"] = "latency"
    latency_ms: int | None = Field(default=None, ge=1, le=3_600_000)
    errno: int | None = Field(default=None, ge=1, le=133)
    percent: int = Field(default=100, ge=1, le=100, description="Of the operations hit.")
    containers: tuple[str, ...] = Field(default=(), max_length=64)

    @model_validator(mode="after")
    def _action_fields(self) -> IoStressParams:
        if self.action == "latency" and self.latency_ms is None:
            raise ValueError("action 'latency' needs 'latency_ms'")
        if self.action == "fault" and self.errno is None:
            raise ValueError("action 'fault' needs 'errno' (e.g. 5, EIO)")
        return self

    def chaos_spec(self, namespace: str) -> dict[str, Any]:
        spec = {
            **super().chaos_spec(namespace),
            "action": self.action,
            "volumePath": self.volume_path,
            "percent": self.percent,
        }
        if self.path is not None:
            spec["path"] = self.path
        if self.latency_ms is not None and self.action == "latency":
            spec["delay"] = _ms(self.latency_ms)
        if self.errno is not None and self.action == "fault":
            spec["errno"] = self.errno
        if self.containers:
            spec["containerNames"] = list(self.containers)
        return spec
