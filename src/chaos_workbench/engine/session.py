"""A run from the outside: event loop, signals, exit codes. What ``cwb run`` and ``cwb demo`` call.

Signals while a suite runs:

* SIGINT / SIGTERM: stop. The experiment in progress reverts its fault (the revert cannot be
  interrupted), everything the run started is stopped, the record is written, and the exit
  code is 130 / 143. A second SIGINT while reverting only says that it is still reverting.
* SIGUSR1: abort the experiment in progress (revert at once, mark it *aborted*) and go on.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import RunRecord

__all__ = ["RunOutcome", "run_blocking", "run_suite_blocking"]

T = TypeVar("T")


@dataclass(frozen=True)
class RunOutcome:
    """The record, and the signal that stopped the run (None when it ran to the end)."""

    record: RunRecord
    stopped_by: signal.Signals | None

    @property
    def exit_code(self) -> int:
        return 128 + self.stopped_by.value if self.stopped_by is not None else 0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on every platform)
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run_blocking(
    main: Callable[[], Coroutine[Any, Any, T]],
    *,
    on_signal: Callable[[signal.Signals, int], None] = lambda sig, count: None,
) -> tuple[T | None, signal.Signals | None]:
    """Run ``main`` on a fresh loop; the first SIGINT/SIGTERM cancels it (once).

    ``main`` is expected to clean up on cancellation and may return a value anyway (the
    partial result); ``on_signal(sig, count)`` is told about every signal.
    """
    stopped: list[signal.Signals] = []

    async def wrapper() -> T | None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def handle(sig: signal.Signals) -> None:
            stopped.append(sig)
            on_signal(sig, len(stopped))
            if len(stopped) == 1:
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, handle, sig)
        try:
            return await main()
        except asyncio.CancelledError:
            return None
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    with asyncio.Runner(loop_factory=_new_loop) as runner:
        result = runner.run(wrapper())
    return result, (stopped[0] if stopped else None)


def run_suite_blocking(
    suite: Suite,
    options: RunOptions,
    *,
    suite_path: str | None = None,
    on_signal: Callable[[signal.Signals, int], None] = lambda sig, count: None,
) -> RunOutcome:
    """Run a suite with signal handling; the record is returned even when interrupted."""
    from pathlib import Path

    abort = asyncio.Event()
    stop = asyncio.Event()

    def stop_and_tell(sig: signal.Signals, count: int) -> None:
        # Cancelling the run is the main mechanism; the events are the backstop. On Python
        # 3.11 a cancellation that lands as an awaited future completes can be swallowed
        # (asyncio.wait_for, gh-86296): the hold would then run its full length. With `stop`
        # set, the fault is reverted at once and the run ends after it all the same.
        stop.set()
        abort.set()
        on_signal(sig, count)

    async def main() -> RunRecord:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, abort.set)
        try:
            return await execute_suite(
                suite,
                replace(options, abort_requested=abort, stop_requested=stop),
                suite_path=Path(suite_path) if suite_path else None,
            )
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    record, stopped_by = run_blocking(main, on_signal=stop_and_tell)
    assert record is not None, "execute_suite returns its record even when cancelled"
    if stopped_by is not None and not record.interrupted:
        record = record.model_copy(update={"interrupted": True})
    return RunOutcome(record=record, stopped_by=stopped_by)
