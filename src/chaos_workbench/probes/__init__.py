"""Protocol probes: PostgreSQL, Valkey/Redis, NATS, a TCP port, a PromQL query or a command.

``probe_driver(spec, rng=rng)`` builds the prober for ``spec.kind`` and returns a
:class:`ProbeDriver`, which paces it open-loop and emits the same windows as the HTTP
load driver. The client libraries are imported only when their probe is used.
"""

from __future__ import annotations

import random

from chaos_workbench.probes.base import ProbeDriver, Prober, classify_os_error
from chaos_workbench.probes.spec import (
    CommandProbeSpec,
    NatsProbeSpec,
    PostgresProbeSpec,
    ProbeSpec,
    PrometheusProbeSpec,
    TcpProbeSpec,
    ValkeyProbeSpec,
)

__all__ = [
    "CommandProbeSpec",
    "NatsProbeSpec",
    "PostgresProbeSpec",
    "ProbeDriver",
    "ProbeSpec",
    "Prober",
    "PrometheusProbeSpec",
    "TcpProbeSpec",
    "ValkeyProbeSpec",
    "classify_os_error",
    "make_prober",
    "probe_driver",
]


def make_prober(spec: ProbeSpec) -> Prober:
    """The prober for ``spec.kind``."""
    if isinstance(spec, PostgresProbeSpec):
        from chaos_workbench.probes.postgres import PostgresProber

        return PostgresProber(spec)
    if isinstance(spec, ValkeyProbeSpec):
        from chaos_workbench.probes.valkey import ValkeyProber

        return ValkeyProber(spec)
    if isinstance(spec, NatsProbeSpec):
        from chaos_workbench.probes.nats import NatsProber

        return NatsProber(spec)
    if isinstance(spec, PrometheusProbeSpec):
        from chaos_workbench.probes.prometheus import PrometheusProber

        return PrometheusProber(spec)
    if isinstance(spec, CommandProbeSpec):
        from chaos_workbench.probes.command import CommandProber

        return CommandProber(spec)
    from chaos_workbench.probes.tcp import TcpProber

    return TcpProber(spec)


def probe_driver(
    spec: ProbeSpec,
    *,
    rng: random.Random,
    window_ms: int = 250,
    duration_s: float | None = None,
) -> ProbeDriver:
    """A paced driver for one probe (use as ``async with``)."""
    return ProbeDriver(
        make_prober(spec),
        rate_per_s=spec.rate_per_s,
        rng=rng,
        arrival=spec.arrival,
        timeout_ms=spec.timeout_ms,
        max_in_flight=spec.max_in_flight,
        window_ms=window_ms,
        duration_s=duration_s,
    )
