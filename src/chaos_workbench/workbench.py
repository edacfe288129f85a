"""The design sketch's entry point, for real: ``ChaosWorkbench`` from Python.

    wb = ChaosWorkbench(
        "order-service",
        traffic={"url": "http://127.0.0.1:8080", "rate_per_s": 50},
        slo={"success_ratio": 0.99, "p99_ms": 300},
        proxies=[{"name": "db", "listen": "127.0.0.1:15432", "upstream": "127.0.0.1:5432"}],
    )
    wb.add_experiment(Experiment(name="latency-spike",
                                 fault={"type": "latency", "proxy": "db", "latency_ms": 500}))
    wb.run_all()
    print(wb.scorecard().grade, wb.report())

Each experiment runs the lifecycle apply → check → rollback → re-check against the real
system (see ``engine/experiment.py``); a suite file and ``cwb run`` do the same.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.experiments.schema import ExperimentSpec, Suite
from chaos_workbench.model import FaultResult, ResilienceScore, RunRecord
from chaos_workbench.reports.json_report import report_dict

__all__ = ["ChaosWorkbench", "Experiment"]

Experiment = ExperimentSpec
_PLACEHOLDER = re.compile(r"\$\{(port:[^}]*|copy_dir)\}")
"""One experiment: a fault, how long to hold it, and what the service must show to pass."""


class ChaosWorkbench:
    """Collects experiments for one service, runs them for real, and grades the run."""

    def __init__(
        self,
        service: str,
        *,
        traffic: Mapping[str, Any] | None = None,
        slo: Mapping[str, Any] | None = None,
        proxies: Iterable[Mapping[str, Any]] = (),
        processes: Iterable[Mapping[str, Any]] = (),
        defaults: Mapping[str, Any] | None = None,
        seed: int | None = None,
        run_dir: Path | None = None,
        **suite_fields: Any,
    ) -> None:
        self._base: dict[str, Any] = {
            "service": service,
            "traffic": dict(traffic) if traffic is not None else None,
            "slo": dict(slo or {}),
            "proxies": [dict(p) for p in proxies],
            "processes": [dict(p) for p in processes],
            "defaults": dict(defaults or {}),
            "seed": seed,
            **suite_fields,
        }
        self._experiments: list[ExperimentSpec] = []
        self._run_dir = run_dir
        self._record: RunRecord | None = None

    @classmethod
    def from_suite(cls, suite: Suite, *, run_dir: Path | None = None) -> ChaosWorkbench:
        """A workbench holding a loaded suite's settings and experiments."""
        data = suite.model_dump(by_alias=True, exclude={"experiments"}, exclude_none=True)
        service = data.pop("service")
        wb = cls(service, run_dir=run_dir, **data)
        for experiment in suite.experiments:
            wb.add_experiment(experiment)
        return wb

    def add_experiment(self, experiment: ExperimentSpec | Mapping[str, Any]) -> None:
        """Queue an experiment (a model, or a mapping in the suite file's shape)."""
        spec = (
            experiment
            if isinstance(experiment, ExperimentSpec)
            else ExperimentSpec.model_validate(experiment)
        )
        self._experiments.append(spec)
        self._record = None

    def suite(self, copy: CopyPlaces | None = None) -> Suite:
        """The suite these settings and experiments make (validated).

        Settings may use ``${port:NAME}`` and ``${copy_dir}`` (``copy``'s, or fresh ports);
        they are then expanded like a suite file's (``experiments.placeholders``).
        """
        data = {
            **self._base,
            "experiments": [
                # serialize_as_any: each fault with its own kind's fields, not the base's
                e.model_dump(mode="json", by_alias=True, exclude_none=True, serialize_as_any=True)
                for e in self._experiments
            ],
        }
        text = json.dumps(data)
        if not _PLACEHOLDER.search(text):
            return Suite.model_validate({**self._base, "experiments": list(self._experiments)})
        return parse_suite(text, file="<ChaosWorkbench>", json_format=True, env={}, copy=copy)

    async def run_all_async(self, parallel: int | None = None) -> list[FaultResult]:
        """Run every experiment against the real system: in order on one system, or with
        ``parallel=N`` on N fresh copies of it at a time beside a control copy."""
        options = RunOptions(run_dir=self._run_dir, parallel=parallel, copy_suite=self.suite)
        record = await execute_suite(self.suite(), options)
        self._record = record
        return list(record.results)

    def run_all(self, parallel: int | None = None) -> list[FaultResult]:
        """Blocking form of :meth:`run_all_async` (not from inside a running event loop)."""
        return asyncio.run(self.run_all_async(parallel))

    def run_parallel(self, copies: int = 4) -> list[FaultResult]:
        """The design sketch's parallel runner: :meth:`run_all` with ``parallel=copies``."""
        return self.run_all(parallel=copies)

    @property
    def record(self) -> RunRecord:
        if self._record is None:
            raise RuntimeError("nothing has run yet: call run_all() first")
        return self._record

    def scorecard(self) -> ResilienceScore:
        """The run's score and grade. Raises ValueError when no experiment was conclusive."""
        return ResilienceScore.from_results(self.record.results)

    def report(self) -> dict[str, Any]:
        """The run as a JSON-ready dict (keys: service, experiments, recovery_rate, grade,
        results[fault, description, recovered, impact, ...], and more)."""
        return report_dict(self.record)
