"""The fault phase of one experiment: its faults applied, held and reverted on schedule.

An experiment holds one fault (``fault:``, applied at 0 and held for the whole phase) or
several (``faults:``): each is applied ``at_s`` after the phase starts, under a lease of
its own written before it is applied, and reverted when its own ``duration_s`` ends or,
at the latest, when the phase ends. Whatever ends the phase — its end, an abort, a fault
that cannot be applied, an exception, cancellation (Ctrl-C, SIGTERM) — every fault that
was applied, or whose apply was attempted, is reverted, and no revert is cut in half.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos_workbench.engine.journal import Journal
from chaos_workbench.engine.observers import RunObserver
from chaos_workbench.engine.outcome import Clock, now_ns
from chaos_workbench.errors import WorkbenchError
from chaos_workbench.faults import Fault, FaultUnsupported
from chaos_workbench.model import FaultInterval
from chaos_workbench.safety.actions import RevertAction

__all__ = ["FaultSchedule", "HeldFault", "LeaseHandle", "LeaseKeeper", "uncancellable"]


class LeaseHandle(Protocol):
    def update(self, actions: Sequence[RevertAction]) -> None: ...
    def release(self) -> None: ...


class LeaseKeeper(Protocol):
    def lease(
        self, experiment: str, fault: str, actions: Sequence[RevertAction]
    ) -> LeaseHandle: ...


async def uncancellable(step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` to completion even if the caller is cancelled meanwhile.

    A revert cut in half is worse than a late one: cancellation is deferred until the step
    has finished, then re-raised.
    """
    task = asyncio.ensure_future(step())
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


@dataclass
class HeldFault:
    """One fault of the schedule and what happened to it (offsets in seconds into the phase)."""

    fault: Fault[Any]
    at_s: float
    end_s: float  # when its own duration ends (the phase's end when it has none)
    target: str = ""
    lease: LeaseHandle | None = None
    attempted: bool = False  # apply() was called: from then on it must be reverted
    start_ns: int = 0
    revert_returned_ns: int = 0  # its revert() returned, whether it worked or not
    end_ns: int | None = None  # ... and worked
    error: str | None = None

    def interval(self, origin_ns: int) -> FaultInterval:
        """Its interval on the experiment's clock (``origin_ns``: the experiment's start)."""
        return FaultInterval(
            fault=self.fault.kind,
            target=self.fault.choice or self.target,
            description=self.fault.describe(),
            start_ms=round(max(self.start_ns - origin_ns, 0) / 1e6, 1),
            end_ms=None if self.end_ns is None else round((self.end_ns - origin_ns) / 1e6, 1),
            error=self.error,
        )


@dataclass
class FaultSchedule:
    """Applies, holds and reverts one experiment's faults on their offsets."""

    experiment: str
    held: list[HeldFault]
    clock: Clock
    journal: Journal
    leases: LeaseKeeper | None = None
    observer: RunObserver = field(default_factory=RunObserver)
    reverted: list[str] = field(default_factory=list)  # "experiment: fault", in order
    apply_error: str | None = None
    unsupported: bool = False
    aborted: bool = False
    first_applied_ns: int | None = None  # when the first apply() returned

    @property
    def compound(self) -> bool:
        return len(self.held) > 1

    def intervals(self) -> tuple[FaultInterval, ...]:
        """Each attempted fault's interval, in the order they were applied."""
        attempted = [h for h in self.held if h.attempted]
        ordered = sorted(attempted, key=lambda h: h.start_ns)
        return tuple(h.interval(self.clock.start_ns) for h in ordered)

    async def hold(self, phase_start_ns: int, fault_s: float, abort: asyncio.Event) -> None:
        """Apply and revert on schedule until the phase ends, an abort, or a failed apply.

        Faults still held at the end are left for :meth:`revert_all`, which the caller runs
        in a ``finally``: this method may be cancelled anywhere.
        """
        # At the same instant a revert goes before an apply (order 0 < 1): never more held
        # at once than the schedule says.
        steps = sorted(
            [(h.at_s, 1, i) for i, h in enumerate(self.held)]
            + [(h.end_s, 0, i) for i, h in enumerate(self.held) if h.end_s < fault_s],
        )
        for at_s, order, index in steps:
            if not await self._wait_until(phase_start_ns + int(at_s * 1e9), abort):
                return
            held = self.held[index]
            if order == 0:
                await self._revert_one(held)
            elif not await self._apply(held):
                return
        await self._wait_until(phase_start_ns + int(fault_s * 1e9), abort)

    async def _wait_until(self, deadline_ns: int, abort: asyncio.Event) -> bool:
        """False when an abort came first (then the phase ends now)."""
        remaining_s = (deadline_ns - now_ns()) / 1e9
        if remaining_s > 0 and not abort.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(abort.wait(), remaining_s)
        if abort.is_set():
            self.aborted = True
            return False
        return True

    async def _apply(self, held: HeldFault) -> bool:
        """The lease is durable before anything is applied: no lease, no fault."""
        fault = held.fault
        try:
            # A target chosen at injection time is chosen before the lease names it.
            await fault.prepare()
            if fault.choice is not None:
                self.clock.mark("chosen", f"target chosen: {fault.choice}")
                self.journal.write(
                    "target_chosen",
                    experiment=self.experiment,
                    target=fault.choice,
                    fault=fault.describe(),
                )
            if self.leases is not None:
                held.lease = self.leases.lease(self.experiment, fault.kind, fault.revert_actions())
            self.journal.write("inject", experiment=self.experiment, fault=fault.describe())
            held.attempted = True
            held.start_ns = (
                self.clock.mark("apply", fault.describe()) if self.compound else now_ns()
            )
            await fault.apply()
        except WorkbenchError as exc:  # a fault's, a process's or the host's refusal
            held.error = str(exc)
            # "Not run on this machine" only when nothing else acted: an earlier fault that
            # was applied makes this an error, and the system gets its recovery time.
            others = any(h.attempted for h in self.held if h is not held)
            self.unsupported = isinstance(exc, FaultUnsupported) and not others
        except Exception as exc:  # a broken fault fails its experiment, not the suite
            held.error = f"{type(exc).__name__}: {exc}"
        finally:
            # Even when cancelled mid-apply: the lease must name what the apply may have done.
            if held.lease is not None:
                held.lease.update(fault.revert_actions())
        if self.first_applied_ns is None:
            self.first_applied_ns = self.clock.mark("injected")
        self.observer.applied(self.experiment, fault.kind, fault.describe(), held.error)
        if held.error is not None:
            where = f"{fault.describe()}: " if self.compound else ""
            self.apply_error = where + held.error
            return False
        return True

    async def revert_all(self) -> tuple[str | None, int]:
        """Revert every fault still held, latest applied first, all uncancellably.

        One uncancellable step for all of them: a Ctrl-C between two reverts must not leave
        the second one applied. Returns the errors, joined, or None; and when the last
        revert returned (recovery is measured from there, not from the bookkeeping after).
        """
        # A revert that failed when its duration ended is tried again (reverts are idempotent).
        pending = [h for h in self.held if h.attempted and h.end_ns is None]
        pending.sort(key=lambda h: h.start_ns, reverse=True)

        async def step() -> None:
            for held in pending:
                await self._revert_now(held)

        await uncancellable(step)
        errors = [f"{h.fault.describe()}: {h.error}" for h in pending if h.end_ns is None]
        returned_ns = max((h.revert_returned_ns for h in pending), default=now_ns())
        return ("; ".join(errors) if errors else None), returned_ns

    async def _revert_one(self, held: HeldFault) -> None:
        """A fault whose own duration ended, reverted before the phase ends."""
        await uncancellable(lambda: self._revert_now(held))

    async def _revert_now(self, held: HeldFault) -> None:
        error = None
        try:
            await held.fault.revert()
        except Exception as exc:  # reported, and the lease stays for the watchdog
            error = f"{type(exc).__name__}: {exc}"
        held.revert_returned_ns = now_ns()
        description = held.fault.describe()
        if self.compound:
            message = description + (f": {error}" if error else "")
            self.clock.mark("fault_reverted", message, held.revert_returned_ns)
        if error is None:
            held.end_ns = held.revert_returned_ns
            self.reverted.append(f"{self.experiment}: {description}")
            if held.lease is not None:
                held.lease.release()
        else:
            held.error = error
        self.journal.write("reverted", experiment=self.experiment, fault=description, error=error)
        self.observer.reverted(self.experiment, held.fault.kind, description, error)
