"""Signals during a run: SIGINT/SIGTERM interrupt the method, then only get noted while
the rollbacks run, so that a fault is never left behind by an impatient Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["signals_interrupt", "signals_noted"]


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT/SIGTERM raise KeyboardInterrupt in the main thread during the method."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)  # SIGTERM too: one way out

    with _handlers(handler):
        yield


@contextmanager
def signals_noted(say: Callable[[str], None]) -> Iterator[None]:
    """During the rollbacks a signal is noted, not obeyed: the rollbacks finish."""

    def handler(signum: int, frame: FrameType | None) -> None:
        say(f"{signal.Signals(signum).name} received: the rollbacks finish first")

    with _handlers(handler):
        yield


@contextmanager
def _handlers(handler: signal.Handlers | object) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
