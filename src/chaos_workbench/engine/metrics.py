"""The run's own ``/metrics``: what the workbench is doing, for a Grafana panel to shade.

Opt-in (``cwb run --metrics-port PORT``, ``RunOptions.metrics_port``; 0 picks a free port).
Served by prometheus_client from its own thread on 127.0.0.1, with a registry of the run's
own (nothing of the process-wide default registry leaks in). The series:

* ``cwb_run_info{service,run_id,seed}`` 1 while the run lasts;
* ``cwb_experiment_phase{experiment,phase}``: 1 for the phase in progress (``baseline``,
  ``fault``, ``revert``, ``recovery``), 0 for the others; all 0 once it has its verdict;
* ``cwb_window_success_ratio`` and ``cwb_window_latency_p99_seconds``: the last window of
  the suite's traffic or probe (NaN when it had no request);
* ``cwb_requests_total`` and ``cwb_request_failures_total``: summed over the windows;
* ``cwb_faults_applied_total{experiment,fault}``, ``cwb_faults_reverted_total{…}``: applies
  and reverts that succeeded; ``cwb_experiments_total{experiment,status,impact}``: verdicts.

Updating a series is a dictionary lookup under a lock; the windows arrive from the feed's
consumer task (``Observers``), so the load driver never waits for a scrape.
"""

from __future__ import annotations

import math
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from chaos_workbench.engine.observers import RunObserver
from chaos_workbench.model import FaultResult, RunRecord
from chaos_workbench.traffic.window import Window

__all__ = ["PHASES", "RunMetrics"]

PHASES = ("baseline", "fault", "revert", "recovery")
_SHUTDOWN_JOIN_S = 5.0


class RunMetrics(RunObserver):
    """The series above, served from ``url`` until :meth:`close`."""

    wants_windows = True

    def __init__(self, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._info = Gauge(
            "cwb_run_info", "The run in progress", ["service", "run_id", "seed"], registry=r
        )
        self._phase = Gauge(
            "cwb_experiment_phase",
            "1 for the phase of the experiment in progress, 0 otherwise",
            ["experiment", "phase"],
            registry=r,
        )
        self._ratio = Gauge(
            "cwb_window_success_ratio", "Success ratio of the last window", registry=r
        )
        self._p99 = Gauge(
            "cwb_window_latency_p99_seconds", "p99 latency of the last window", registry=r
        )
        self._requests = Counter("cwb_requests", "Requests measured (all windows)", registry=r)
        self._failures = Counter(
            "cwb_request_failures", "Failed requests measured (all windows)", registry=r
        )
        labels = ["experiment", "fault"]
        self._applied = Counter("cwb_faults_applied", "Faults applied", labels, registry=r)
        self._reverted = Counter("cwb_faults_reverted", "Faults reverted", labels, registry=r)
        self._verdicts = Counter(
            "cwb_experiments", "Experiment verdicts", ["experiment", "status", "impact"], registry=r
        )
        self._ratio.set(math.nan)
        self._p99.set(math.nan)
        self._current: str | None = None
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr="127.0.0.1", registry=r)
        self.port: int = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def run_started(self, service: str, run_id: str, seed: int) -> None:
        self._info.labels(service, run_id, str(seed)).set(1)

    def experiment_started(self, experiment: str, fault: str, description: str) -> None:
        self._set_phase(experiment, None)

    def phase(self, experiment: str, phase: str) -> None:
        self._set_phase(experiment, phase)

    def _set_phase(self, experiment: str, current: str | None) -> None:
        self._current = experiment if current is not None else None
        for phase in PHASES:
            self._phase.labels(experiment, phase).set(1 if phase == current else 0)

    def applied(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        if error is None:
            self._applied.labels(experiment, fault).inc()

    def reverted(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        if error is None:
            self._reverted.labels(experiment, fault).inc()

    def window(self, window: Window) -> None:
        ratio = window.success_ratio
        p99_ms = window.percentile_ms(99.0)
        self._ratio.set(math.nan if ratio is None else ratio)
        self._p99.set(math.nan if p99_ms is None else p99_ms / 1000)
        self._requests.inc(window.requests)
        self._failures.inc(window.requests - window.successes)

    def experiment_finished(self, result: FaultResult) -> None:
        self._set_phase(result.name, None)
        self._verdicts.labels(result.name, result.status.value, result.impact.value).inc()

    def run_finished(self, record: RunRecord | None, failure: str | None) -> None:
        if self._current is not None:  # cut short mid-experiment: no phase is running now
            self._set_phase(self._current, None)
        for metric in self.registry.collect():
            if metric.name == "cwb_run_info":
                for sample in metric.samples:
                    self._info.labels(**sample.labels).set(0)

    def close(self) -> None:
        """Stop serving and release the port (waits for the server thread)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(_SHUTDOWN_JOIN_S)
