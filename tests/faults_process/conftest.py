"""Fault-test fixtures: a FaultContext maker, polling, tagged helper processes (shared ones: tests/conftest.py)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from chaos_workbench.faults.base import FaultContext
from chaos_workbench.processes import Supervisor


@pytest.fixture
def make_ctx(run_dir: Path) -> Callable[..., FaultContext]:
    def make(
        processes: Supervisor | None = None,
        patterns: tuple[str, ...] = (),
        paths: tuple[Path, ...] = (),
    ) -> FaultContext:
        return FaultContext(
            run_dir=run_dir,
            rng=random.Random(7),
            processes=processes,
            allowed_paths=paths,
            allowed_process_patterns=patterns,
        )

    return make


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``check`` until true or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    return until


def tagged(tag: str) -> list[int]:
    """Live processes carrying a fault tag."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("CWB_FAULT_TAG") == tag and proc.status() != "zombie":
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def tagged_pids() -> Callable[[str], list[int]]:
    return tagged
