"""A run's summary as a typed model: what ``cwb load`` prints and ``--json`` emits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chaos_workbench.traffic.stats import DriverStats

__all__ = ["LoadSummary", "summarize"]

_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class LoadSummary(BaseModel):
    """Totals of one load run. Latencies count from each request's intended send time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    mode: str  # "open" or "closed"
    duration_s: float = Field(ge=0)
    target_rate_per_s: float | None
    achieved_rate_per_s: float = Field(ge=0)  # requests completed / run duration
    sent_rate_per_s: float = Field(ge=0)  # requests / time from start to the last send
    requests: int = Field(ge=0)
    successes: int = Field(ge=0)
    success_ratio: float | None
    errors_by_kind: dict[str, int]
    latency_ms: dict[str, float]  # "p50", "p90", "p99", "p99.9", "max", "mean"
    bytes_received: int = Field(ge=0)
    connections_opened: int = Field(ge=0)
    behind_schedule_windows: int = Field(ge=0)
    max_send_lag_ms: float = Field(ge=0)
    interrupted: bool = False

    @property
    def reliable(self) -> bool:
        """False when the driver fell behind its plan: the load was lighter than asked."""
        return self.behind_schedule_windows == 0


def summarize(stats: DriverStats, *, url: str, mode: str, interrupted: bool) -> LoadSummary:
    """Build the summary from the driver's running totals."""
    total = stats.total
    histogram = total.histogram
    latency: dict[str, float] = {}
    if histogram.get_total_count():
        for p in _PERCENTILES:
            key = f"p{p:g}"
            latency[key] = histogram.get_value_at_percentile(p) / 1000.0
        latency["max"] = histogram.get_max_value() / 1000.0
        latency["mean"] = round(histogram.get_mean_value() / 1000.0, 3)
    return LoadSummary(
        url=url,
        mode=mode,
        duration_s=round(stats.elapsed_s, 3),
        target_rate_per_s=stats.target_rate_per_s,
        achieved_rate_per_s=round(stats.achieved_rate_per_s, 2),
        sent_rate_per_s=round(stats.send_rate_per_s, 2),
        requests=total.requests,
        successes=total.successes,
        success_ratio=total.success_ratio,
        errors_by_kind={str(k): n for k, n in sorted(total.errors.items())},
        latency_ms=latency,
        bytes_received=total.bytes_received,
        connections_opened=stats.connections_opened,
        behind_schedule_windows=stats.behind_schedule_windows,
        max_send_lag_ms=round(total.max_send_lag_ms, 3),
        interrupted=interrupted,
    )
