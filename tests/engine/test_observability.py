"""A run's /metrics (scraped while it runs) and its OpenTelemetry spans, on a real service."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from chaos_workbench.engine.runner import RunAborted, RunOptions, execute_suite
from chaos_workbench.engine.tracing import open_tracing
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus, ImpactLevel

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def outage_suite(url: str, *, fault_s: float = 1.5, recovery_delay_ms: float = 0) -> Suite:
    return Suite.model_validate(
        {
            "service": "flaky",
            "seed": 7,
            "traffic": {"url": url, "rate_per_s": 100, "timeout_ms": 1000},
            "slo": {"success_ratio": 0.99},
            "defaults": {"baseline_s": 1, "fault_s": fault_s, "recovery_timeout_s": 5},
            "experiments": [
                {
                    "name": "outage",
                    "fault": {
                        "type": "engine_test_outage",
                        "admin_url": url,
                        "recovery_delay_ms": recovery_delay_ms,
                    },
                }
            ],
        }
    )


async def scrape(client: httpx.AsyncClient, url: str) -> Samples:
    text = (await client.get(url)).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def poll(client: httpx.AsyncClient, url: str, ready: object, timeout_s: float) -> Samples:
    """Scrape every 50 ms until ``ready(samples)``; the samples then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        samples = await scrape(client, url)
        if ready(samples):  # type: ignore[operator]
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never showed what was awaited in {timeout_s} s")


@pytest.mark.slow
async def test_metrics_follow_the_run_and_the_port_is_released(
    flaky_service: str, tmp_path: Path
) -> None:
    urls: list[str] = []
    options = RunOptions(run_dir=tmp_path, metrics_port=0, on_metrics_url=urls.append)
    # The service fails on for 1 s after the revert: the recovery phase lasts long enough
    # (that second and the stable windows after it) to be seen by a scrape.
    suite = outage_suite(flaky_service, recovery_delay_ms=1000)
    task = asyncio.create_task(execute_suite(suite, options))
    exp = {"experiment": "outage"}
    fault = {**exp, "fault": "engine_test_outage"}
    try:
        async with asyncio.timeout(5):
            while not urls:
                await asyncio.sleep(0.01)
        (url,) = urls
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")
        async with httpx.AsyncClient(trust_env=False) as client:
            first = await scrape(client, url)
            assert value(first, "cwb_run_info", service="flaky", run_id=tmp_path.name, seed="7")
            baseline = await poll(
                client,
                url,
                lambda s: value(s, "cwb_experiment_phase", **exp, phase="baseline") == 1,
                15,
            )
            assert value(baseline, "cwb_window_success_ratio") == 1.0
            assert value(baseline, "cwb_experiment_phase", **exp, phase="fault") == 0
            assert not value(baseline, "cwb_faults_applied_total", **fault)
            # In the fault phase the service answers 503 to everything: a window of 0 % shows.
            hurt = await poll(
                client,
                url,
                lambda s: (
                    value(s, "cwb_experiment_phase", **exp, phase="fault") == 1
                    and value(s, "cwb_window_success_ratio") == 0.0
                ),
                10,
            )
            assert value(hurt, "cwb_experiment_phase", **exp, phase="baseline") == 0
            assert value(hurt, "cwb_faults_applied_total", **fault) == 1
            assert not value(hurt, "cwb_faults_reverted_total", **fault)
            p99 = value(hurt, "cwb_window_latency_p99_seconds")
            assert p99 is not None
            assert 0 < p99 < 0.5
            failures = value(hurt, "cwb_request_failures_total") or 0
            assert 0 < failures < (value(hurt, "cwb_requests_total") or 0)
            recovering = await poll(
                client,
                url,
                lambda s: value(s, "cwb_experiment_phase", **exp, phase="recovery") == 1,
                10,
            )
            assert value(recovering, "cwb_faults_reverted_total", **fault) == 1
            assert value(recovering, "cwb_experiment_phase", **exp, phase="fault") == 0
            healed = await poll(client, url, lambda s: value(s, "cwb_window_success_ratio") == 1, 5)
            # Recovered: still in the recovery phase, or already judged (every phase 0).
            assert value(healed, "cwb_experiment_phase", **exp, phase="fault") == 0
        async with asyncio.timeout(30):
            record = await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    with socket.socket() as sock:  # the port is free to be taken again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


async def test_a_taken_metrics_port_refuses_the_run_before_anything_starts(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = RunOptions(run_dir=tmp_path, metrics_port=port)
        with pytest.raises(RunAborted, match=f"127.0.0.1:{port}"):
            await execute_suite(outage_suite("http://127.0.0.1:1"), options)


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


@pytest.mark.slow
async def test_the_run_is_traced_as_a_tree_of_spans(flaky_service: str, tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    suite = outage_suite(flaky_service, fault_s=0.75)
    record = await execute_suite(suite, RunOptions(run_dir=tmp_path, tracer_provider=provider))
    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    spans = exporter.get_finished_spans()
    (run,) = _by_name(spans, "cwb.run")
    (experiment,) = _by_name(spans, "cwb.experiment")
    assert run.parent is None
    assert run.attributes is not None
    assert run.attributes["cwb.service"] == "flaky"
    assert run.attributes["cwb.run_id"] == tmp_path.name
    assert run.attributes["cwb.grade"] == record.score.grade if record.score else False
    assert experiment.parent is not None
    assert experiment.parent.span_id == run.context.span_id
    attrs = experiment.attributes or {}
    assert attrs["cwb.experiment"] == "outage"
    assert attrs["cwb.fault.type"] == "engine_test_outage"
    assert attrs["cwb.impact"] == ImpactLevel.FULL_OUTAGE.value
    assert attrs["cwb.status"] == "passed"
    phases = [s for s in spans if s.name.startswith("cwb.phase.")]
    assert [s.name for s in sorted(phases, key=lambda s: s.start_time or 0)] == [
        "cwb.phase.baseline",
        "cwb.phase.fault",
        "cwb.phase.revert",
        "cwb.phase.recovery",
    ]
    for phase in phases:
        assert phase.parent is not None
        assert phase.parent.span_id == experiment.context.span_id
        assert (phase.attributes or {})["cwb.experiment"] == "outage"
    (fault_span,) = _by_name(spans, "cwb.phase.fault")
    assert fault_span.end_time is not None
    assert fault_span.start_time is not None
    held_s = (fault_span.end_time - fault_span.start_time) / 1e9
    assert 0.7 <= held_s < 1.5, held_s  # the 0.75 s hold (and the apply's HTTP call)
    events = {e.name: e for e in experiment.events}
    assert set(events) == {"inject", "revert"}
    assert events["inject"].timestamp < events["revert"].timestamp
    for event in events.values():
        assert (event.attributes or {})["cwb.fault.description"] == attrs["cwb.fault.description"]
        assert "cwb.error" not in (event.attributes or {})
    # Every span ended inside the run's.
    assert all((s.end_time or 0) <= (run.end_time or 0) for s in spans)


def test_without_the_extra_tracing_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    notes: list[str] = []
    assert open_tracing(None, notes) is None
    assert notes == []


def test_an_otlp_endpoint_without_the_exporter_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("opentelemetry.exporter", "opentelemetry.exporter.otlp"):
        monkeypatch.setitem(sys.modules, name, None)  # whether installed or not
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    notes: list[str] = []
    assert open_tracing(None, notes) is None  # no global provider configured in tests
    (note,) = notes
    assert "opentelemetry-exporter-otlp" in note
    assert "no spans are exported" in note
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    notes.clear()
    assert open_tracing(None, notes) is None  # nothing configured: nothing traced, silently
    assert notes == []
