"""Fixtures for engine tests: a real flaky HTTP service and a test-only fault that drives it.

The fault is test-only because it needs a hook into the service under test (its admin
endpoints) to make a failure whose recovery delay is *known*; everything else — traffic,
windows, analysis, the lifecycle — is the product's real code against a real server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest

from chaos_workbench.faults import Fault, FaultError, FaultParams, FaultUnsupported, register
from chaos_workbench.model import FaultType

SERVICE = Path(__file__).with_name("flaky_service.py")


class OutageParams(FaultParams):
    type: Literal["engine_test_outage"] = "engine_test_outage"
    admin_url: str
    recovery_delay_ms: float = 0.0
    marker: str | None = None  # a file touched on apply, removed on revert
    fail_apply: bool = False
    crash_apply: bool = False  # a bug in a fault, not a FaultError
    unsupported: bool = False  # the machine lacks a capability: refuse before acting


@register
class EngineTestOutage(Fault[OutageParams]):
    """Makes the flaky service answer 503 until reverted (+ a known recovery delay)."""

    kind = "engine_test_outage"
    fault_type = FaultType.DEPENDENCY_DOWN
    params_model = OutageParams

    async def apply(self) -> None:
        if self.params.unsupported:
            raise FaultUnsupported("creating a memory cgroup needs root (this user cannot)")
        if self.params.marker:
            Path(self.params.marker).write_text("applied")
        async with httpx.AsyncClient() as client:
            await client.post(f"{self.params.admin_url}/admin/fail")
        if self.params.fail_apply:
            raise FaultError("refusing on purpose after a partial apply")
        if self.params.crash_apply:
            raise RuntimeError("a bug in the fault")

    async def revert(self) -> None:
        async with httpx.AsyncClient() as client:
            await client.post(
                f"{self.params.admin_url}/admin/recover",
                params={"delay_ms": self.params.recovery_delay_ms},
            )
        if self.params.marker:
            Path(self.params.marker).unlink(missing_ok=True)


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE), *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    assert port.isdigit(), f"flaky service did not start: {port!r}"
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def flaky_service() -> Iterator[str]:
    proc, url = _start()
    yield url
    _stop(proc)


@pytest.fixture
def warming_service() -> Iterator[str]:
    """Answers 503 for its first 2 s (a cache filling), then 200."""
    proc, url = _start("--fail-first-ms", "2000")
    yield url
    _stop(proc)


@pytest.fixture
def unhealthy_service() -> Iterator[str]:
    proc, url = _start("--fail-first-ms", "600000")
    yield url
    _stop(proc)
