"""The prometheus probe against a real Prometheus (Debian's ``prometheus`` package).

Prometheus scrapes a tiny prometheus_client server in this process every 500 ms; the tests
change its gauge and watch the probe's verdict follow. Prometheus runs as our own process
on a free loopback port with its config and storage in a temporary directory (the Debian
package's service is not used). ``.ci/install-system-deps.sh`` installs the package.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from probe_helpers import SPEC, collect, errors_of
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from pydantic import ValidationError

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus
from chaos_workbench.probes import PrometheusProbeSpec
from chaos_workbench.probes.prometheus import QueryFailed, judge_result
from chaos_workbench.traffic.window import ErrorKind

PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_INTERVAL_S = 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Exporter:
    """A prometheus_client HTTP server in this process with one gauge the test controls."""

    port: int
    health: Gauge


@dataclass(frozen=True)
class Prom:
    url: str
    exporter: Exporter


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    registry = CollectorRegistry()
    health = Gauge("cwb_test_health", "1 healthy, 0 not", registry=registry)
    health.set(1)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield Exporter(server.server_port, health)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter) -> Iterator[Prom]:
    binary = shutil.which("prometheus") or (PROMETHEUS if Path(PROMETHEUS).exists() else None)
    if binary is None:
        pytest.skip("prometheus is not installed (run .ci/install-system-deps.sh)")
    root = Path(tempfile.mkdtemp(prefix="cwb-prometheus-"))
    config = root / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 500ms, evaluation_interval: 500ms}\n"
        "scrape_configs:\n"
        "  - job_name: exporter\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (root / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, proc, root / "prometheus.log")
        prom = Prom(url, exporter)
        _wait_value(prom, 1.0)  # the first scrape has landed
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=0.5, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"prometheus not ready after {timeout_s} s: {log.read_text()}")


def _wait_value(prom: Prom, value: float, timeout_s: float = 15) -> float:
    """Poll Prometheus until ``cwb_test_health`` is ``value``; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        body = httpx.get(
            f"{prom.url}/api/v1/query", params={"query": "cwb_test_health"}, trust_env=False
        ).json()
        result = body["data"]["result"]
        if result and float(result[0]["value"][1]) == value:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"prometheus did not see cwb_test_health == {value} in {timeout_s} s")


async def test_the_probe_follows_the_value_within_and_outside_the_threshold(
    prometheus: Prom,
) -> None:
    spec = {
        "kind": "prometheus",
        "url": prometheus.url,
        "query": "cwb_test_health",
        "min": 1,
        "rate_per_s": 20,
    }
    try:
        healthy = await collect(spec)
        assert sum(w.requests for w in healthy) == 20
        assert sum(w.successes for w in healthy) == 20
        p99 = max(w.percentile_ms(99) or 0 for w in healthy)
        assert 0 < p99 < 200, p99  # a loopback round trip with a tiny query
        prometheus.exporter.health.set(0)
        seen_after_s = await asyncio.to_thread(_wait_value, prometheus, 0.0)
        assert seen_after_s < 3 * SCRAPE_INTERVAL_S + 1
        hurt = await collect(spec)
        assert sum(w.requests for w in hurt) == 20
        assert errors_of(hurt) == {ErrorKind.OTHER: 20}, "below min: every probe fails"
        # The same value with the other bound: within `max`, a success again.
        upper = await collect({**spec, "min": None, "max": 0.5}, duration_s=0.5)
        assert sum(w.successes for w in upper) == sum(w.requests for w in upper) == 10
    finally:
        prometheus.exporter.health.set(1)
        await asyncio.to_thread(_wait_value, prometheus, 1.0)


async def test_an_empty_result_fails_unless_told_to_pass(prometheus: Prom) -> None:
    spec = {
        "kind": "prometheus",
        "url": prometheus.url,
        "query": "no_such_metric_anywhere",
        "max": 0,
        "rate_per_s": 20,
    }
    failing = await collect(spec, duration_s=0.5)
    assert errors_of(failing) == {ErrorKind.OTHER: 10}
    passing = await collect({**spec, "on_empty": "pass"}, duration_s=0.5)
    assert sum(w.successes for w in passing) == sum(w.requests for w in passing) == 10


async def test_a_bad_query_is_a_4xx_error_per_call(prometheus: Prom) -> None:
    spec = {"kind": "prometheus", "url": prometheus.url, "query": "rate(", "max": 1}
    windows = await collect({**spec, "rate_per_s": 20}, duration_s=0.5)
    assert errors_of(windows) == {ErrorKind.HTTP_4XX: 10}


async def test_an_unreachable_prometheus_is_refused_probes_not_a_crash() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    spec = {"kind": "prometheus", "url": url, "query": "up", "min": 1, "rate_per_s": 20}
    windows = await collect(spec, duration_s=0.5)
    assert errors_of(windows) == {ErrorKind.CONNECT_REFUSED: 10}


def test_results_are_judged_by_every_sample() -> None:
    spec = PrometheusProbeSpec(kind="prometheus", url="http://127.0.0.1:9090", query="x", max=5)

    def vector(*values: str) -> dict[str, object]:
        result = [{"metric": {}, "value": [1.0, v]} for v in values]
        return {"resultType": "vector", "result": result}

    judge_result(spec, vector("1", "5"))
    judge_result(spec, {"resultType": "scalar", "result": [1.0, "4.5"]})
    with pytest.raises(QueryFailed, match="above max 5"):
        judge_result(spec, vector("1", "6"))
    with pytest.raises(QueryFailed, match="NaN") as nan:
        judge_result(spec, vector("NaN"))
    assert nan.value.kind is ErrorKind.OTHER
    lenient = spec.model_copy(update={"on_empty": "pass"})
    judge_result(lenient, vector("NaN", "2"))
    with pytest.raises(QueryFailed, match="above max"):
        judge_result(lenient, vector("NaN", "7"))
    with pytest.raises(QueryFailed, match="'matrix'") as matrix:
        judge_result(spec, {"resultType": "matrix", "result": []})
    assert matrix.value.kind is ErrorKind.PROTOCOL


def test_the_spec_is_validated() -> None:
    base = {"kind": "prometheus", "url": "http://127.0.0.1:9090", "query": "up"}
    with pytest.raises(ValidationError, match="give a threshold"):
        SPEC.validate_python(base)
    with pytest.raises(ValidationError, match="is above 'max'"):
        SPEC.validate_python({**base, "min": 2, "max": 1})
    with pytest.raises(ValidationError, match="url"):
        SPEC.validate_python({**base, "url": "ftp://127.0.0.1:9090", "min": 1})
    with pytest.raises(ValidationError, match="query"):
        SPEC.validate_python({**base, "query": "", "min": 1})


def test_a_prometheus_off_loopback_is_refused_unless_the_blast_radius_allows_it() -> None:
    text = (
        "service: s\n"
        "probe: {kind: prometheus, url: 'http://prom.example.com:9090', query: up, min: 1}\n"
        "experiments: [{name: x, fault: {type: down, proxy: p}}]\n"
        "proxies: [{name: p, listen: '127.0.0.1:1', upstream: '127.0.0.1:2'}]\n"
    )
    with pytest.raises(SuiteError, match=r"probe\.url.*prom\.example\.com"):
        parse_suite(text)
    parse_suite(text + "blast_radius: {hosts: [prom.example.com]}\n")


@pytest.mark.slow
async def test_a_prometheus_guardrail_aborts_the_experiment(
    prometheus: Prom, tmp_path: Path
) -> None:
    """A TCP-probed proxy in front of the exporter; a guardrail on Prometheus's view of the
    exporter's health gauge, which the test drops as the fault starts."""
    listen = f"127.0.0.1:{_free_port()}"
    suite = Suite.model_validate(
        {
            "service": "prometheus-guarded",
            "probe": {"kind": "tcp", "address": listen, "rate_per_s": 40},
            "proxies": [
                {
                    "name": "dep",
                    "listen": listen,
                    "upstream": f"127.0.0.1:{prometheus.exporter.port}",
                }
            ],
            "defaults": {"baseline_s": 1, "fault_s": 60, "recovery_timeout_s": 5},
            "experiments": [
                {
                    "name": "slow-dep",
                    "fault": {"type": "latency", "proxy": "dep", "latency_ms": 1},
                }
            ],
            "guardrails": [
                {
                    "name": "health",
                    "probe": {
                        "kind": "prometheus",
                        "url": prometheus.url,
                        "query": "cwb_test_health",
                        "min": 1,
                        "rate_per_s": 20,
                    },
                    "success_ratio_below": 0.5,
                    "for_s": 0.5,
                }
            ],
        }
    )

    def on_phase(experiment: str, phase: str) -> None:
        if phase == "fault":
            prometheus.exporter.health.set(0)

    started = time.monotonic()
    try:
        record = await execute_suite(suite, RunOptions(run_dir=tmp_path, on_phase=on_phase))
    finally:
        prometheus.exporter.health.set(1)
    (result,) = record.results
    assert result.status is ExperimentStatus.ABORTED, result.reason
    assert "prometheus probe" in result.reason
    assert "'health'" in result.reason
    events = {e.kind: e.t_s for e in result.events}
    # Scrape (≤ 0.5 s) + the guardrail's 0.5 s span + a window or two: well under 4 s.
    assert events["aborted"] - events["injected"] < 4.0, events
    assert time.monotonic() - started < 30  # not the 60 s hold
    await asyncio.to_thread(_wait_value, prometheus, 1.0)
