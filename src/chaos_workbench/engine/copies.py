"""A system under test, started: the safety net, the proxies, the processes, the measurement.

A sequential run starts one system (``engine/runner.py``); a parallel run starts one per
experiment and a control (``engine/scheduler.py``), each a **copy** in its own directory
with its own free ports (the suite read again with that copy's placeholders,
``experiments/placeholders.py``), its own proxies, processes, traffic driver and windows.
Everything a copy starts is pushed on the caller's exit stack, so it is stopped in reverse
order whatever happens — the end of the copy, an error, Ctrl-C or SIGTERM — and is recorded
in the copy's directory (``host/started.py``), whose watchdog stops it after a crash.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.engine.faults import make_fault
from chaos_workbench.engine.feed import WindowFeed
from chaos_workbench.engine.journal import Journal
from chaos_workbench.engine.proxies import open_proxies
from chaos_workbench.engine.warmup import WarmupFailed, warm_up
from chaos_workbench.experiments.schema import ExperimentSpec, Suite
from chaos_workbench.faults import FaultContext, FaultError
from chaos_workbench.host.private import UnsafePath, make_private_dir
from chaos_workbench.probes import ProbeDriver, probe_driver
from chaos_workbench.processes.supervisor import Supervisor
from chaos_workbench.safety.net import SafetyNet
from chaos_workbench.safety.policy import DeclaredProcess, RevertPolicy
from chaos_workbench.traffic.distributed import DistributedLoadDriver, DistributedLoadError
from chaos_workbench.traffic.driver import LoadDriver

__all__ = [
    "Copy",
    "measure",
    "open_system",
    "preflight",
    "private_dir",
    "settle",
    "start_copy",
]


def private_dir(path: Path) -> None:
    """A run or copy directory: 0700 and ours (its leases are instructions for the watchdog)."""
    try:
        make_private_dir(path)
    except UnsafePath as exc:
        raise RunAborted(
            f"the run directory cannot be used: {exc}; choose another --run-dir", exit_code=2
        ) from exc


def revert_policy(suite: Suite, env: Mapping[str, str]) -> RevertPolicy:
    """What the run's reverts may touch (``safety.policy``), from the suite as loaded."""
    return RevertPolicy(
        allowed_paths=tuple(str(p) for p in suite.blast_radius.paths),
        proxy_api=suite.proxy_api,
        processes=tuple(
            DeclaredProcess(
                name=p.name,
                command=p.command,
                cwd=p.cwd,
                env={**env, **p.env},  # as Supervisor.launch_spec builds it
            )
            for p in suite.processes
            if p.command is not None
        ),
    )


async def open_system(
    stack: contextlib.AsyncExitStack,
    suite: Suite,
    *,
    run_dir: Path,
    env: Mapping[str, str],
    seed: int,
    rng: random.Random,
    notes: list[str],
) -> tuple[SafetyNet, FaultContext]:
    """Steps 1–3 of a run: the safety net, the proxies, the processes (in that order)."""
    safety = await stack.enter_async_context(SafetyNet(run_dir, policy=revert_policy(suite, env)))
    proxies, proxy_pid = None, None
    if suite.proxies:
        proxies, proxy_pid = await open_proxies(
            suite, stack, seed=seed, run_dir=run_dir, notes=notes
        )
    supervisor = Supervisor(suite.processes, run_dir=run_dir, env=dict(env))
    stack.push_async_callback(supervisor.aclose)
    try:
        await supervisor.start_all()
    except Exception as exc:
        raise RunAborted(f"could not start the suite's processes: {exc}") from exc
    ctx = FaultContext(
        run_dir=run_dir,
        rng=rng,
        proxies=proxies,
        processes=supervisor if suite.processes else None,
        allowed_paths=tuple(Path(p) for p in suite.blast_radius.paths),
        allowed_process_patterns=suite.blast_radius.process_patterns,
        protected_pids=tuple(pid for pid in (safety.watchdog_pid, proxy_pid) if pid),
    )
    return safety, ctx


def preflight(experiments: Sequence[ExperimentSpec], ctx: FaultContext, suite: Suite) -> None:
    """Step 4: every fault checks its target before anything is injected; refusals end it."""
    refusals = []
    for spec in experiments:
        for item in spec.schedule:  # each fault of a compound experiment
            try:
                make_fault(item.fault, ctx, suite, experiment=spec.name).preflight()
            except FaultError as exc:
                refusals.append(f"experiment {spec.name!r}: {exc}")
    if refusals:
        raise RunAborted(
            "refused before anything was injected: " + "; ".join(refusals), exit_code=2
        )


async def measure(
    suite: Suite,
    stack: contextlib.AsyncExitStack,
    *,
    rng: random.Random,
    keep_requests: bool = True,
) -> tuple[WindowFeed, int]:
    """Step 5: the load driver (or the protocol probe), the feed of its windows, and when
    it started (monotonic ns)."""
    window_ms = suite.defaults.window_ms
    driver: LoadDriver | ProbeDriver | DistributedLoadDriver
    if suite.traffic is not None and (suite.traffic.workers or suite.traffic.scheduler):
        driver = _distributed_driver(suite, rng)  # docs/traffic.md, distributed load
    elif suite.traffic is not None:
        driver = LoadDriver(suite.traffic, window_ms=window_ms, rng=rng)
    else:
        assert suite.probe is not None, "a suite has traffic or a probe (schema-enforced)"
        driver = probe_driver(suite.probe, window_ms=window_ms, rng=rng)
    driver.keep_requests = keep_requests  # recovery is found request by request
    since_ns = time.monotonic_ns()
    try:
        await stack.enter_async_context(driver)
    except DistributedLoadError as exc:
        raise RunAborted(f"traffic: {exc}", exit_code=2) from None
    feed = WindowFeed(driver.windows())
    feed.start()
    stack.push_async_callback(feed.aclose)
    return feed, since_ns


def _distributed_driver(suite: Suite, rng: random.Random) -> DistributedLoadDriver:
    """The suite's traffic over Dask workers; a scheduler off loopback is refused (exit 2)."""
    assert suite.traffic is not None
    try:
        return DistributedLoadDriver(
            suite.traffic,
            seed=rng.getrandbits(32),
            window_ms=suite.defaults.window_ms,
            workers=suite.traffic.workers,
            scheduler=suite.traffic.scheduler,
            allowed_hosts=suite.blast_radius.hosts,
        )
    except DistributedLoadError as exc:
        raise RunAborted(f"traffic.scheduler: {exc}", exit_code=2) from None


async def settle(suite: Suite, feed: WindowFeed, journal: Journal, *, since_ns: int) -> float:
    """Step 5b: wait for steady state before the first experiment; how long it took."""
    defaults = suite.defaults
    try:
        warmup_s = await warm_up(
            feed,
            suite.slo,
            stable_windows=defaults.stable_windows,
            timeout_s=defaults.warmup_timeout_s,
            since_ns=since_ns,
        )
    except WarmupFailed as exc:
        journal.write("warmup", steady=False, reason=str(exc))
        raise
    journal.write("warmup", steady=True, warmup_s=round(warmup_s, 3))
    return warmup_s


@dataclass
class Copy:
    """One started copy of the system: where it lives and what measures it."""

    name: str
    suite: Suite
    run_dir: Path
    journal: Journal
    safety: SafetyNet
    ctx: FaultContext
    feed: WindowFeed
    warmup_s: float
    notes: list[str] = field(default_factory=list)


async def start_copy(
    stack: contextlib.AsyncExitStack,
    name: str,
    suite: Suite,
    *,
    run_dir: Path,
    env: Mapping[str, str],
    seed: int,
    experiments: Sequence[ExperimentSpec] = (),
    keep_requests: bool = True,
) -> Copy:
    """Start a whole copy of the system in ``run_dir`` and wait for its steady state.

    Everything is stopped when ``stack`` closes. ``experiments`` are preflighted on it.
    """
    private_dir(run_dir)
    journal = Journal(run_dir / "journal.jsonl")
    stack.callback(journal.close)
    # Written when everything the copy started has been stopped (the stack unwinds in reverse).
    stack.callback(journal.write, "copy_stop", copy=name)
    journal.write("copy_start", copy=name, service=suite.service, run_dir=str(run_dir))
    rng = random.Random(seed)
    notes: list[str] = []
    safety, ctx = await open_system(
        stack, suite, run_dir=run_dir, env=env, seed=seed, rng=rng, notes=notes
    )
    preflight(experiments, ctx, suite)
    feed, since_ns = await measure(suite, stack, rng=rng, keep_requests=keep_requests)
    warmup_s = await settle(suite, feed, journal, since_ns=since_ns)
    return Copy(name, suite, run_dir, journal, safety, ctx, feed, warmup_s, notes)
