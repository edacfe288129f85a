"""OpenTelemetry spans of a run: one per run, per experiment and per phase.

Needs the ``otel`` extra (``pip install 'chaos-workbench[otel]'``); without it
:func:`open_tracing` returns None and the run traces nothing. The tree::

    cwb.run                      cwb.service, cwb.run_id, cwb.seed; at the end cwb.grade
      cwb.experiment             cwb.experiment, cwb.fault.type, cwb.fault.description;
        │                        events "inject" and "revert" (cwb.fault.description,
        │                        cwb.error when it failed); at the end cwb.status,
        │                        cwb.impact, cwb.recovery_time_ms
        cwb.phase.baseline       cwb.experiment, cwb.phase
        cwb.phase.fault          … until the revert begins
        cwb.phase.revert         … until the revert returned
        cwb.phase.recovery       … until the verdict

Where the spans go: the ``tracer_provider`` given in ``RunOptions``; else the process's
global provider when the application configured one; else, when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set, a provider of our own
that exports over OTLP (``OTEL_EXPORTER_OTLP_PROTOCOL`` ``grpc`` or the default
``http/protobuf``), flushed when the run ends. That needs ``opentelemetry-exporter-otlp``;
without it the run's notes say so and nothing is exported.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from chaos_workbench._version import __version__
from chaos_workbench.engine.observers import RunObserver
from chaos_workbench.model import ExperimentStatus, FaultResult, RunRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = ["RunTracer", "open_tracing"]

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def open_tracing(provider: Any | None, notes: list[str]) -> RunTracer | None:
    """A tracer for the run, or None without the ``otel`` extra (nothing to do then)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    owned = None
    if provider is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):  # nobody configured tracing
            owned = _otlp_provider(notes)
            if owned is None:
                return None  # no endpoint (or no exporter): spans would go nowhere
            provider = owned
    return RunTracer(provider.get_tracer("chaos_workbench", __version__), owned)


def _otlp_provider(notes: list[str]) -> Any | None:
    """An SDK provider exporting over OTLP when the standard variables ask for it."""
    if not any(os.environ.get(name) for name in _ENDPOINT_VARS):
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
    except ImportError as exc:
        notes.append(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter cannot be imported "
            f"({exc.name or exc}): no spans are exported; pip install opentelemetry-exporter-otlp"
        )
        return None
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class RunTracer(RunObserver):
    """Opens and closes the spans as the run's hooks arrive (explicit parents, no context)."""

    def __init__(self, tracer: Tracer, owned_provider: Any | None = None) -> None:
        self._tracer = tracer
        self._owned = owned_provider
        self._run: Span | None = None
        self._experiment: Span | None = None
        self._phase: Span | None = None

    def _child(self, name: str, parent: Span | None, attributes: dict[str, Any]) -> Span:
        from opentelemetry import trace

        context = trace.set_span_in_context(parent) if parent is not None else None
        return self._tracer.start_span(name, context=context, attributes=attributes)

    def run_started(self, service: str, run_id: str, seed: int) -> None:
        attributes = {"cwb.service": service, "cwb.run_id": run_id, "cwb.seed": seed}
        self._run = self._child("cwb.run", None, attributes)

    def experiment_started(self, experiment: str, fault: str, description: str) -> None:
        self._end_experiment()
        attributes = {
            "cwb.experiment": experiment,
            "cwb.fault.type": fault,
            "cwb.fault.description": description,
        }
        self._experiment = self._child("cwb.experiment", self._run, attributes)

    def phase(self, experiment: str, phase: str) -> None:
        self._end_phase()
        attributes = {"cwb.experiment": experiment, "cwb.phase": phase}
        self._phase = self._child(f"cwb.phase.{phase}", self._experiment, attributes)

    def applied(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        self._event("inject", description, error)

    def reverted(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        self._event("revert", description, error)
        self._end_phase()  # the revert phase is the revert itself

    def _event(self, name: str, description: str, error: str | None) -> None:
        if self._experiment is None:
            return
        attributes = {"cwb.fault.description": description}
        if error is not None:
            attributes["cwb.error"] = error
        self._experiment.add_event(name, attributes)

    def experiment_finished(self, result: FaultResult) -> None:
        span = self._experiment
        if span is None:
            return
        span.set_attribute("cwb.status", result.status.value)
        span.set_attribute("cwb.impact", result.impact.value)
        if result.recovery_time_ms is not None:
            span.set_attribute("cwb.recovery_time_ms", result.recovery_time_ms)
        if result.status is ExperimentStatus.ERROR:
            from opentelemetry.trace import StatusCode

            span.set_status(StatusCode.ERROR, result.reason)
        self._end_experiment()

    def run_finished(self, record: RunRecord | None, failure: str | None) -> None:
        self._end_experiment()
        if self._run is None:
            return
        if record is not None:
            self._run.set_attribute("cwb.interrupted", record.interrupted)
            if record.score is not None:
                self._run.set_attribute("cwb.grade", record.score.grade)
        if failure is not None:
            from opentelemetry.trace import StatusCode

            self._run.set_status(StatusCode.ERROR, failure)
        self._run.end()
        self._run = None

    def close(self) -> None:
        if self._owned is not None:
            self._owned.shutdown()  # flushes the batch to the exporter

    def _end_phase(self) -> None:
        if self._phase is not None:
            self._phase.end()
            self._phase = None

    def _end_experiment(self) -> None:
        self._end_phase()
        if self._experiment is not None:
            self._experiment.end()
            self._experiment = None
