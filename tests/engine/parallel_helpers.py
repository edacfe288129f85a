"""Shared by the parallel-run tests: a suite of real copies, a test-only fault, and what
the copies' files say.

The fault is test-only because it needs a hook into the service under test (its admin
endpoints) to make a failure whose recovery delay is *known*; it declares itself
copy-local the way a third-party fault does (a ``scope`` class attribute).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Literal

import httpx

from chaos_workbench.engine.runner import RunOptions
from chaos_workbench.engine.session import RunOutcome, run_suite_blocking
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.faults import Fault, FaultParams, register
from chaos_workbench.faults.registry import FaultScope
from chaos_workbench.model import FaultType

SERVICE = Path(__file__).with_name("copy_service.py")


class CopyOutageParams(FaultParams):
    type: Literal["copy_test_outage"] = "copy_test_outage"
    admin_url: str
    recovery_delay_ms: float = 0.0


@register
class CopyTestOutage(Fault[CopyOutageParams]):
    """Makes one copy's service answer 503 until reverted, then for a known delay more."""

    kind = "copy_test_outage"
    fault_type = FaultType.DEPENDENCY_DOWN
    params_model = CopyOutageParams
    scope = FaultScope.COPY  # it calls the admin URL of its own copy's service only

    async def apply(self) -> None:
        async with httpx.AsyncClient() as client:
            await client.post(f"{self.params.admin_url}/admin/fail")

    async def revert(self) -> None:
        async with httpx.AsyncClient() as client:
            await client.post(
                f"{self.params.admin_url}/admin/recover",
                params={"delay_ms": self.params.recovery_delay_ms},
            )


SUITE_HEAD = f"""
service: copies
seed: 11
traffic: {{url: "http://127.0.0.1:${{port:front}}/", rate_per_s: 50, timeout_ms: 1000}}
slo: {{success_ratio: 0.99, p99_ms: 150}}
proxies:
  - {{name: front, listen: "127.0.0.1:${{port:front}}", upstream: "127.0.0.1:${{port:svc}}"}}
  - {{name: side, listen: "127.0.0.1:${{port:side}}", upstream: "127.0.0.1:${{port:svc}}"}}
processes:
  - name: svc
    command: ["{sys.executable}", "{SERVICE}", --port, "${{port:svc}}",
              --data, "${{copy_dir}}/data", --burn-ms, "${{BURN_MS:-0}}"]
    ready: {{port: "${{port:svc}}", timeout_s: 20}}
defaults: {{baseline_s: 1.5, fault_s: 2, recovery_timeout_s: 5, window_ms: 250,
           stable_windows: 2, warmup_timeout_s: 20}}
"""


def write_suite(path: Path, body: str) -> Path:
    path.write_text(SUITE_HEAD + body)
    return path


def run_copies(
    suite_path: Path,
    run_dir: Path,
    *,
    parallel: int,
    env: Mapping[str, str] | None = None,
    on_phase: Callable[[str, str], None] | None = None,
) -> RunOutcome:
    """Run the suite in parallel copies, in this process (the way ``cwb run`` does)."""
    env = dict(env or {})
    suite = load_suite(suite_path, env, copy=CopyPlaces(run_dir.absolute()))
    options = RunOptions(
        run_dir=run_dir,
        env=env,
        parallel=parallel,
        copy_suite=lambda places: load_suite(suite_path, env, copy=places),
    )
    if on_phase is not None:
        options = replace(options, on_phase=on_phase)
    return run_suite_blocking(suite, options)


def copy_dirs(run_dir: Path) -> dict[str, Path]:
    """Every copy's directory by copy name ("control", "copy-1", ...)."""
    dirs = {"control": run_dir / "control"}
    for path in sorted((run_dir / "copies").iterdir()):
        dirs[f"copy-{int(path.name.split('-', 1)[0])}"] = path
    return dirs


def journal(copy_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (copy_dir / "journal.jsonl").read_text().splitlines()]


def event_ns(copy_dir: Path, event: str) -> int:
    """The monotonic time of the copy's first ``event``."""
    for entry in journal(copy_dir):
        if entry["event"] == event:
            value = entry["monotonic_ns"]
            assert isinstance(value, int)
            return value
    raise AssertionError(f"no {event!r} in {copy_dir}/journal.jsonl")


def identity(copy_dir: Path) -> tuple[int, int]:
    """The (port, pid) the copy's service wrote into its own data directory."""
    port, pid = (copy_dir / "data" / "identity").read_text().split()
    return int(port), int(pid)
