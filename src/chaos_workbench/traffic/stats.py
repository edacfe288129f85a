"""What a driver reports: per-request records (for an optional hook) and running totals."""

from __future__ import annotations

from dataclasses import dataclass

from chaos_workbench.traffic.window import ErrorKind, Window

__all__ = ["DriverStats", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request's outcome, for the optional per-request hook (not kept by the driver)."""

    intended_ns: int
    sent_ns: int  # 0 when it never left (no connection in time)
    latency_ms: float  # from the intended send time
    status: int | None
    bytes_received: int
    error: ErrorKind | None


@dataclass(frozen=True, slots=True)
class DriverStats:
    """Running totals of a run: all emitted windows merged, plus the driver's own health."""

    total: Window
    elapsed_s: float
    sent: int
    target_rate_per_s: float | None  # None in closed loop
    connections_opened: int
    connections_open: int
    behind_schedule_windows: int
    windows: int
    send_span_s: float = 0.0  # from the run's start to the last request actually sent

    @property
    def send_rate_per_s(self) -> float:
        """Requests per second as actually sent: below target when the driver fell behind."""
        return (self.sent - 1) / self.send_span_s if self.sent > 1 and self.send_span_s else 0.0

    @property
    def achieved_rate_per_s(self) -> float:
        return self.total.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def behind_schedule(self) -> bool:
        """True when the driver could not keep its plan in some window: trust it less."""
        return self.behind_schedule_windows > 0
