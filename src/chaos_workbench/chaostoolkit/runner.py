"""Run a Chaos Toolkit experiment as ``chaos run`` does, with our differences on purpose.

The order is chaoslib's (``run.py``): the steady-state hypothesis (per the hypothesis
strategy), the method (probes and actions, ``pauses``, ``background``), the hypothesis
again, then the rollbacks; the journal is written and the exit code is 1 when the run is
not ``completed`` or deviated.

Differences on purpose (each is said in the output):

* rollbacks run on every ending by default (failed, interrupted, deviated); Chaos
  Toolkit's strategies (``default``, ``always``, ``never``, ``deviated``) are accepted;
* SIGINT/SIGTERM during the run stop it as ``interrupted`` and the rollbacks still run;
* a tolerance on a method probe is checked: a warning, or a failure of the run with
  ``fail_on_method_tolerance``;
* a fault a chaostoxi action left (a toxic, a disabled proxy) that no rollback removed
  is named at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from pydantic import JsonValue

from chaos_workbench.chaostoolkit.journal import (
    ActivityRun,
    Journal,
    SteadyState,
    now_iso,
)
from chaos_workbench.chaostoolkit.loader import LoadedExperiment
from chaos_workbench.chaostoolkit.measure import Marks
from chaos_workbench.chaostoolkit.model import (
    Activity,
    ActivityOrRef,
    HttpProvider,
    ProbeTolerance,
    ProcessProvider,
    PythonProvider,
)
from chaos_workbench.chaostoolkit.providers import (
    ActivityFailed,
    run_http,
    run_process,
    run_python,
)
from chaos_workbench.chaostoolkit.signals import signals_interrupt, signals_noted
from chaos_workbench.chaostoolkit.tolerance import within_tolerance
from chaos_workbench.chaostoolkit.toxi import ToxiproxyBridge
from chaos_workbench.chaostoolkit.toxi_functions import PREFIX
from chaos_workbench.chaostoolkit.values import substitute
from chaos_workbench.safety.cleanup import DEFAULT_RUNS_ROOT

__all__ = ["HYPOTHESIS_STRATEGIES", "ROLLBACK_STRATEGIES", "Run", "RunOptions"]

HYPOTHESIS_STRATEGIES = (
    "default",
    "before-method-only",
    "after-method-only",
    "during-method-only",
    "continuously",
    "skip",
)
ROLLBACK_STRATEGIES = ("always-on-every-ending", "default", "always", "never", "deviated")
RollbackStrategy = Literal["always-on-every-ending", "default", "always", "never", "deviated"]


@dataclass(frozen=True)
class RunOptions:
    hypothesis_strategy: str = "default"
    hypothesis_frequency_s: float = 1.0
    fail_fast: bool = False
    fail_on_method_tolerance: bool = False
    rollback_strategy: RollbackStrategy = "always-on-every-ending"


class Run:
    def __init__(
        self,
        loaded: LoadedExperiment,
        options: RunOptions,
        env: dict[str, str],
        out: TextIO,
        workdir: Path,
    ) -> None:
        self.loaded = loaded
        self.experiment = loaded.experiment
        self.options = options
        self.env = env
        self.out = out
        self.workdir = workdir
        self.configuration: dict[str, JsonValue] = dict(loaded.configuration)
        self.journal = Journal(experiment=loaded.raw)
        self.bridge: ToxiproxyBridge | None = None
        self.stop_during = threading.Event()
        self.lock = threading.Lock()
        self.marks = Marks()  # when the method and the rollbacks ran (the cwb extension)
        self.before_method: Callable[[], None] | None = None  # e.g. wait for a baseline

    def say(self, message: str) -> None:
        with self.lock:
            print(f"[chaostoolkit] {message}", file=self.out, flush=True)

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> Journal:
        started = time.monotonic()
        journal = self.journal
        self.say(f"Running experiment: {self.experiment.title}")
        try:
            with signals_interrupt():
                try:
                    if any(m.startswith(PREFIX) for m, _ in self._python_modules()):
                        self.bridge = ToxiproxyBridge()
                        url = self.bridge.connect(
                            self.configuration, None, self.workdir / DEFAULT_RUNS_ROOT
                        )
                        where = "our embedded proxy server" if self.bridge.embedded else "it"
                        self.say(f"chaostoxi actions act on {url} ({where}), natively")
                    self._hypothesis_and_method()
                except KeyboardInterrupt:
                    journal.status = "interrupted"
                    self.say("Interrupted by a signal: stopping the method")
                except Exception as exc:  # an activity raised outside its provider's errors
                    journal.status = "aborted"
                    self.say(f"Aborted: {type(exc).__name__}: {exc}")
                finally:
                    self.stop_during.set()
            with signals_noted(self.say):
                self.marks.rollbacks_start_ns = time.monotonic_ns()
                self._rollbacks()
                self.marks.rollbacks_end_ns = time.monotonic_ns()
                if journal.status is None:
                    journal.status = "completed"
                self._leftover()
        finally:
            if self.bridge is not None:
                self.bridge.close()
        journal.end = now_iso()
        journal.duration = time.monotonic() - started
        verdict = "deviated" if journal.deviated else journal.status
        self.say(f"Experiment ended with status: {verdict}")
        return journal

    def _python_modules(self) -> Iterator[tuple[str, str]]:
        activities = [*self.experiment.method, *self.experiment.rollbacks]
        if self.experiment.steady_state_hypothesis is not None:
            activities += self.experiment.steady_state_hypothesis.probes
        for activity in activities:
            if isinstance(activity, Activity) and isinstance(activity.provider, PythonProvider):
                yield activity.provider.module, activity.provider.func

    def _hypothesis_and_method(self) -> None:
        strategy = self.options.hypothesis_strategy
        hypothesis = self.experiment.steady_state_hypothesis
        with_ssh = hypothesis is not None and bool(hypothesis.probes)
        journal = self.journal
        if with_ssh and strategy in ("default", "before-method-only", "continuously"):
            state = self._hypothesis("before")
            journal.steady_states["before"] = state
            if not state.steady_state_met:
                journal.status = _status_of(state)
                self.say(
                    "Steady state probe is not in the given tolerance: skipping the method "
                    f"(status {journal.status}, as Chaos Toolkit; the exit code follows it)"
                )
                return
        during: threading.Thread | None = None
        if with_ssh and strategy in ("during-method-only", "continuously"):
            during = threading.Thread(target=self._continuously, daemon=True)
            during.start()
        try:
            self._method()
        finally:
            self.stop_during.set()
            if during is not None:
                during.join()
        if journal.status in ("interrupted", "aborted"):
            return
        if with_ssh and strategy in ("default", "after-method-only", "continuously"):
            state = self._hypothesis("after")
            journal.steady_states["after"] = state
            if not state.steady_state_met:
                journal.deviated = True
                journal.status = _status_of(state) if journal.status is None else journal.status
                self.say(
                    "Steady state probe is not in the given tolerance: the experiment deviated"
                )

    def _hypothesis(self, when: str) -> SteadyState:
        assert self.experiment.steady_state_hypothesis is not None
        self.say(
            f"Steady state hypothesis ({when}): {self.experiment.steady_state_hypothesis.title}"
        )
        probes: list[ActivityRun] = []
        for item in self.experiment.steady_state_hypothesis.probes:
            activity = self._resolve(item)
            run = self._activity(activity)
            if run.status == "failed":
                probes.append(run.model_copy(update={"tolerance_met": False}))
                return SteadyState(steady_state_met=False, probes=probes)
            met = activity.tolerance is None or self._within(activity, run.output)
            probes.append(run.model_copy(update={"tolerance_met": met}))
            if not met:
                self.say(
                    f"  probe {activity.name!r}: not within tolerance (got {_short(run.output)})"
                )
                return SteadyState(steady_state_met=False, probes=probes)
        self.say("Steady state hypothesis is met")
        return SteadyState(steady_state_met=True, probes=probes)

    def _continuously(self) -> None:
        failed = iterations = 0
        while not self.stop_during.is_set():
            iterations += 1
            state = self._hypothesis("during")
            during = self.journal.steady_states["during"]
            assert isinstance(during, list)
            during.append(state)
            if not state.steady_state_met:
                failed += 1
                if self.options.fail_fast:
                    self.journal.status = "failed"
                    self.say(
                        f"Failing fast: the hypothesis deviated {failed} of {iterations} times"
                    )
                    return
            self.stop_during.wait(self.options.hypothesis_frequency_s)

    def _method(self) -> None:
        if self.before_method is not None:
            self.before_method()
        self.say("Method:")
        self.marks.method_start_ns = time.monotonic_ns()
        background: list[Future[ActivityRun]] = []
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.experiment.method)))
        interrupted = True
        try:
            for item in self.experiment.method:
                activity = self._resolve(item)
                if activity.background:
                    background.append(pool.submit(self._method_activity, activity))
                else:
                    self._method_activity(activity)
                if self.journal.status in ("failed", "aborted", "interrupted"):
                    break
            interrupted = False
        finally:
            pool.shutdown(wait=not interrupted, cancel_futures=interrupted)
            self.marks.method_end_ns = time.monotonic_ns()

    def _method_activity(self, activity: Activity) -> ActivityRun:
        run = self._activity(activity)
        if (
            activity.type == "probe"
            and activity.tolerance is not None
            and run.status == "succeeded"
        ):
            met = self._within(activity, run.output)
            run = run.model_copy(update={"tolerance_met": met})
            if not met:
                if self.options.fail_on_method_tolerance:
                    self.journal.status = "failed"
                    self.say(
                        f"  probe {activity.name!r}: not within its tolerance: failing the run"
                    )
                else:
                    self.say(
                        f"  warning: probe {activity.name!r} is not within its tolerance "
                        "(Chaos Toolkit would not check it; --fail-on-method-tolerance fails the run)"
                    )
        with self.lock:
            self.journal.run.append(run)
        return run

    def _rollbacks(self) -> None:
        journal = self.journal
        strategy = self.options.rollback_strategy
        if strategy == "always-on-every-ending":
            play = True
            if journal.status in ("failed", "interrupted", "aborted"):
                self.say(
                    f"Rollbacks run although the run {journal.status} (our default; "
                    "Chaos Toolkit's would skip them: rollback strategy 'default')"
                )
        elif strategy == "always":
            play = True
        elif strategy == "never":
            play = False
        elif strategy == "deviated":
            play = journal.deviated
        else:
            play = journal.status not in ("failed", "interrupted")
        if not play:
            self.say(f"Rollbacks not played (rollback strategy {strategy!r})")
            return
        if self.experiment.rollbacks:
            self.say("Rollbacks:")
        for item in self.experiment.rollbacks:
            journal.rollbacks.append(self._activity(self._resolve(item)))

    def _leftover(self) -> None:
        if self.bridge is None:
            return
        left = self.bridge.leftover()
        suffix = (
            " (until our embedded proxy server stopped at the end of this run)"
            if self.bridge.embedded
            else f" (removed now by the safety net; its journal: {self.bridge.run_dir})"
        )
        for fault in left:
            self.say(f"Fault left in place, no rollback removed it: {fault}{suffix}")

    # -- one activity ----------------------------------------------------------------------

    def _resolve(self, item: ActivityOrRef) -> Activity:
        if isinstance(item, Activity):
            return item
        found = self.loaded.activity_named(item.ref)
        assert found is not None  # the loader checked every ref
        return found

    def _pause(self, value: float | str | None) -> None:
        if value is None:
            return
        seconds = substitute(value, self.configuration, self.loaded.secrets)
        if isinstance(seconds, int | float | str) and not isinstance(seconds, bool):
            time.sleep(max(0.0, float(seconds)))

    def _activity(self, activity: Activity) -> ActivityRun:
        pauses = activity.pauses
        if pauses is not None:
            self._pause(pauses.before)
        label = " [in background]" if activity.background else ""
        self.say(f"  {activity.type.title()}: {activity.name}{label}")
        start, began = now_iso(), time.monotonic()
        output: JsonValue = None
        exception: list[str] | None = None
        try:
            output = self._provide(activity.provider, None)
            status: Literal["succeeded", "failed"] = "succeeded"
        except ActivityFailed as exc:
            status, exception = "failed", [f"chaoslib.exceptions.ActivityFailed: {exc}\n"]
            self.say(f"    => failed: {exc}")
        run = ActivityRun(
            activity=activity.model_dump(mode="json", by_alias=True, exclude_unset=True),
            status=status,
            output=output,
            start=start,
            end=now_iso(),
            duration=time.monotonic() - began,
            exception=exception,
        )
        if pauses is not None:
            self._pause(pauses.after)
        return run

    def _provide(
        self, provider: object, value: JsonValue | None, *, with_value: bool = False
    ) -> JsonValue:
        secrets = self.loaded.secrets
        if isinstance(provider, HttpProvider):
            return run_http(provider, self.configuration, secrets)
        if isinstance(provider, ProcessProvider):
            return run_process(provider, self.configuration, secrets, self.env)
        assert isinstance(provider, PythonProvider)
        if with_value:
            provider = provider.model_copy(
                update={"arguments": {**provider.arguments, "value": value}}
            )
        if provider.module.startswith(PREFIX):
            assert self.bridge is not None
            arguments = substitute(provider.arguments, self.configuration, secrets)
            assert isinstance(arguments, dict)
            return self.bridge.call(
                provider.module, provider.func, arguments, self.configuration, self.env
            )
        function = self.loaded.functions[(provider.module, provider.func)]
        return run_python(provider, function, dict(self.configuration), secrets)

    def _within(self, activity: Activity, output: JsonValue) -> bool:
        assert activity.tolerance is not None
        tolerance = activity.tolerance

        def run_probe(probe: ProbeTolerance, value: JsonValue) -> JsonValue:
            return self._provide(probe.provider, value, with_value=True)

        return within_tolerance(
            tolerance, output, self.configuration, self.loaded.secrets, run_probe
        )


def _short(value: JsonValue) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:160] + "…"


def _status_of(state: SteadyState) -> Literal["completed", "failed"]:
    """chaoslib: a hypothesis not met is ``failed`` when one of its probes failed to run."""
    return "failed" if any(p.status != "succeeded" for p in state.probes) else "completed"
