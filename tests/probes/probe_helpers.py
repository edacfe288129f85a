"""Helpers shared by the probe tests (imported by the test modules; see conftest)."""

from __future__ import annotations

import asyncio
import random

from pydantic import TypeAdapter

from chaos_workbench.probes import probe_driver
from chaos_workbench.probes.spec import ProbeSpec
from chaos_workbench.traffic.window import ErrorKind, Window

SPEC = TypeAdapter(ProbeSpec)


async def collect(spec_data: dict[str, object], duration_s: float = 1.0) -> list[Window]:
    """Every window a real probe driver produces from ``spec_data`` in ``duration_s``."""
    spec = SPEC.validate_python(spec_data)
    windows = []
    async with probe_driver(spec, rng=random.Random(3), duration_s=duration_s) as driver:
        async with asyncio.timeout(duration_s + 10):
            async for window in driver.windows():
                windows.append(window)
    return windows


def errors_of(windows: list[Window]) -> dict[ErrorKind, int]:
    """Errors by kind over ``windows``."""
    out: dict[ErrorKind, int] = {}
    for w in windows:
        for kind, n in w.errors.items():
            out[kind] = out.get(kind, 0) + n
    return out
