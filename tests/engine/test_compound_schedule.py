"""The compound schedule's rules, fast: order, overlap, failed reverts, cancellation.

These drive ``FaultSchedule`` with a test-only fault that records what it was told into a
shared log instead of acting on a system: the rules checked here (what is applied when,
what is reverted on which exit) do not depend on what a fault does, and the real faults'
behaviour under the same schedule is checked in ``test_compound_faults.py``. The journal
and the clock are the engine's own.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from chaos_workbench.engine.compound import FaultSchedule, HeldFault
from chaos_workbench.engine.journal import Journal
from chaos_workbench.engine.outcome import Clock
from chaos_workbench.faults import Fault, FaultContext, FaultError, FaultParams, register
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction

LOG: list[tuple[float, str, str]] = []  # (monotonic s, "apply"/"revert", fault name)


class RecordedParams(FaultParams):
    type: Literal["engine_test_recorded"] = "engine_test_recorded"
    name: str
    apply_hangs: bool = False  # the apply never returns (until cancelled)
    reverts_failing: int = 0  # so many reverts fail before one works


@register
class Recorded(Fault[RecordedParams]):
    """Logs its apply and revert; can hang in apply or fail its first reverts."""

    kind = "engine_test_recorded"
    fault_type = FaultType.NETWORK
    params_model = RecordedParams

    def __init__(self, params: RecordedParams, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        self.failures_left = params.reverts_failing

    async def apply(self) -> None:
        LOG.append((time.monotonic(), "apply", self.params.name))
        if self.params.apply_hangs:
            await asyncio.Event().wait()

    async def revert(self) -> None:
        LOG.append((time.monotonic(), "revert", self.params.name))
        if self.failures_left:
            self.failures_left -= 1
            raise FaultError("the control API did not answer")

    def describe(self) -> str:
        return self.params.name


class Leases:
    """Records the leases the schedule takes and releases (the safety net's interface)."""

    def __init__(self) -> None:
        self.held: dict[str, int] = {}
        self.taken: list[str] = []

    def lease(self, experiment: str, fault: str, actions: Sequence[RevertAction]) -> Handle:
        number = len(self.taken)
        self.taken.append(f"{experiment}/{number}")
        self.held[self.taken[-1]] = number
        return Handle(self, self.taken[-1])


class Handle:
    def __init__(self, leases: Leases, key: str) -> None:
        self.leases, self.key = leases, key

    def update(self, actions: Sequence[RevertAction]) -> None:
        """Nothing to rewrite: these leases live in memory."""

    def release(self) -> None:
        self.leases.held.pop(self.key)


def schedule(tmp_path: Path, *plan: tuple[str, float, float], **params: Any) -> FaultSchedule:
    ctx = FaultContext(run_dir=tmp_path, rng=random.Random(1))
    held = []
    for name, at_s, end_s in plan:
        fault = Recorded(RecordedParams(name=name, **params.get(name, {})), ctx)
        held.append(HeldFault(fault, at_s, end_s))
    journal = Journal(tmp_path / "journal.jsonl")
    return FaultSchedule("exp", held, Clock(time.monotonic_ns()), journal, Leases())


def leases_of(plan: FaultSchedule) -> dict[str, int]:
    """The leases still held (taken and not released) by the schedule."""
    assert isinstance(plan.leases, Leases)
    return plan.leases.held


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    LOG.clear()


async def test_applied_and_reverted_on_their_offsets(tmp_path: Path) -> None:
    plan = schedule(tmp_path, ("a", 0.0, 0.2), ("b", 0.1, 0.4), ("c", 0.2, 0.4))
    start = time.monotonic()
    await plan.hold(time.monotonic_ns(), 0.4, asyncio.Event())
    await plan.revert_all()
    events = [(round(t - start, 2), what, name) for t, what, name in LOG]
    # 50 ms of tolerance for asyncio timers on a busy machine.
    for (at, what, name), (expected_at, expected) in zip(
        events,
        [
            (0.0, ("apply", "a")),
            (0.1, ("apply", "b")),
            (0.2, ("revert", "a")),
            (0.2, ("apply", "c")),
            (0.4, ("revert", "c")),
            (0.4, ("revert", "b")),
        ],
        strict=True,
    ):
        assert (what, name) == expected, events
        assert abs(at - expected_at) < 0.05, events
    assert [i.fault for i in plan.intervals()] == ["engine_test_recorded"] * 3
    assert leases_of(plan) == {}


async def test_a_revert_that_fails_at_its_own_end_is_retried_at_the_phase_end(
    tmp_path: Path,
) -> None:
    plan = schedule(tmp_path, ("a", 0.0, 0.1), ("b", 0.0, 0.2), a={"reverts_failing": 1})
    await plan.hold(time.monotonic_ns(), 0.2, asyncio.Event())
    error, _ = await plan.revert_all()
    assert error is None  # the second try worked
    assert [what + name for _, what, name in LOG].count("reverta") == 2
    assert all(i.end_ms is not None for i in plan.intervals())
    assert leases_of(plan) == {}


async def test_a_revert_that_keeps_failing_keeps_its_lease_and_is_reported(
    tmp_path: Path,
) -> None:
    plan = schedule(tmp_path, ("a", 0.0, 0.2), ("b", 0.0, 0.2), a={"reverts_failing": 5})
    await plan.hold(time.monotonic_ns(), 0.1, asyncio.Event())
    error, _ = await plan.revert_all()
    assert error == "a: FaultError: the control API did not answer"
    assert leases_of(plan) == {"exp/0": 0}  # left for the watchdog
    first, second = plan.intervals()
    assert (first.end_ms, first.error) == (None, "FaultError: the control API did not answer")
    assert second.end_ms is not None


async def test_cancelled_mid_apply_of_the_second_fault_both_are_reverted(
    tmp_path: Path,
) -> None:
    plan = schedule(tmp_path, ("a", 0.0, 1.0), ("b", 0.05, 1.0), b={"apply_hangs": True})

    async def run() -> None:
        try:
            await plan.hold(time.monotonic_ns(), 1.0, asyncio.Event())
        finally:
            await plan.revert_all()

    task = asyncio.create_task(run())
    deadline = time.monotonic() + 5
    while ("apply", "b") not in [(what, name) for _, what, name in LOG]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    task.cancel()  # what Ctrl-C does to the run
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(name for _, what, name in LOG if what == "revert") == ["a", "b"]
    assert leases_of(plan) == {}


async def test_an_abort_ends_the_phase_before_later_faults_start(tmp_path: Path) -> None:
    plan = schedule(tmp_path, ("a", 0.0, 1.0), ("b", 0.5, 1.0))
    abort = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, abort.set)
    await plan.hold(time.monotonic_ns(), 1.0, abort)
    await plan.revert_all()
    assert plan.aborted
    assert [(what, name) for _, what, name in LOG] == [("apply", "a"), ("revert", "a")]
