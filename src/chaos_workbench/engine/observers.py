"""Observers: what a run tells the outside world as it goes (``/metrics``, traces).

The runner and :class:`~chaos_workbench.engine.experiment.ExperimentRunner` call one
:class:`RunObserver` at each step; :class:`Observers` fans the calls out to the observers
the run was asked for (``engine.metrics``, ``engine.tracing``). Observers only record: a
broken one is remembered (the run's notes say so) and never stops a run whose faults must
still be reverted. Windows reach an observer from the feed in a task of their own, never
from the load driver's hot path, and only when it asks for them (``wants_windows``).
"""

from __future__ import annotations

from chaos_workbench.model import FaultResult, RunRecord
from chaos_workbench.traffic.window import Window

__all__ = ["Observers", "RunObserver"]


class RunObserver:
    """Every hook, doing nothing: observers override what they need."""

    wants_windows = False

    def run_started(self, service: str, run_id: str, seed: int) -> None:
        """The run has its directory and seed; nothing is set up yet."""

    def experiment_started(self, experiment: str, fault: str, description: str) -> None:
        """An experiment begins (its baseline comes next)."""

    def phase(self, experiment: str, phase: str) -> None:
        """``baseline``, ``fault``, ``revert`` or ``recovery`` begins."""

    def applied(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        """The fault's apply returned (``error`` when it failed)."""

    def reverted(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        """The fault's revert returned (``error`` when it failed)."""

    def window(self, window: Window) -> None:
        """A measurement window of the suite's own traffic or probe."""

    def experiment_finished(self, result: FaultResult) -> None:
        """The experiment's verdict."""

    def run_finished(self, record: RunRecord | None, failure: str | None) -> None:
        """The run's record, or why it ended without one."""

    def close(self) -> None:
        """Release what the observer holds (a port, an exporter)."""


class Observers(RunObserver):
    """Several observers as one; an observer that raises is dropped, and the error kept."""

    def __init__(self, observers: list[RunObserver]) -> None:
        self._observers = list(observers)
        self.errors: list[str] = []

    @property
    def wants_windows(self) -> bool:  # type: ignore[override]  # a class attribute elsewhere
        return any(o.wants_windows for o in self._observers)

    def _each(self, hook: str, *args: object) -> None:
        for observer in list(self._observers):
            try:
                getattr(observer, hook)(*args)
            except Exception as exc:
                self._observers.remove(observer)
                self.errors.append(f"{type(observer).__name__}.{hook}: {type(exc).__name__}: {exc}")

    def run_started(self, service: str, run_id: str, seed: int) -> None:
        self._each("run_started", service, run_id, seed)

    def experiment_started(self, experiment: str, fault: str, description: str) -> None:
        self._each("experiment_started", experiment, fault, description)

    def phase(self, experiment: str, phase: str) -> None:
        self._each("phase", experiment, phase)

    def applied(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        self._each("applied", experiment, fault, description, error)

    def reverted(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        self._each("reverted", experiment, fault, description, error)

    def window(self, window: Window) -> None:
        for observer in list(self._observers):
            if observer.wants_windows:
                self._each_one(observer, window)

    def _each_one(self, observer: RunObserver, window: Window) -> None:
        try:
            observer.window(window)
        except Exception as exc:
            self._observers.remove(observer)
            self.errors.append(f"{type(observer).__name__}.window: {type(exc).__name__}: {exc}")

    def experiment_finished(self, result: FaultResult) -> None:
        self._each("experiment_finished", result)

    def run_finished(self, record: RunRecord | None, failure: str | None) -> None:
        self._each("run_finished", record, failure)

    def close(self) -> None:
        self._each("close")
