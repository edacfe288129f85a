"""Run a whole suite: set up the system and the instruments, run each experiment, record.

Set-up order (torn down in reverse, whatever happens): run directory and journal → safety
net (leases and watchdog) → supervised processes → fault proxy and its proxies → load
driver and window feed. Experiments then run one after another; the next experiment's
steady-state check makes sure the system is back before anything else is injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.engine.experiment import ExperimentRunner
from chaos_workbench.engine.feed import FeedClosed, WindowFeed
from chaos_workbench.engine.guardrails import GuardrailWatch
from chaos_workbench.engine.journal import Journal
from chaos_workbench.experiments.schema import ExperimentSpec, Suite
from chaos_workbench.faults import FaultContext, FaultError
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.model import ExperimentStatus, FaultResult, ResilienceScore, RunRecord
from chaos_workbench.probes import ProbeDriver, probe_driver
from chaos_workbench.probes.spec import (
    NatsProbeSpec,
    PostgresProbeSpec,
    TcpProbeSpec,
    ValkeyProbeSpec,
)
from chaos_workbench.processes.supervisor import Supervisor
from chaos_workbench.proxy.client import (
    ProxyApiUnreachable,
    ProxyClientError,
    ToxiproxyClient,
    start_proxy_server,
)
from chaos_workbench.safety.net import SafetyNet
from chaos_workbench.traffic.driver import LoadDriver

__all__ = ["RunAborted", "RunOptions", "default_run_dir", "execute_suite"]

DEFAULT_RUNS_DIR = Path(".cwb") / "runs"
# A Toxiproxy-compatible API answers GET /proxies in milliseconds; one silent this long
# (a wrong port that accepts but never speaks HTTP) is not going to answer.
PROXY_API_ANSWER_S = 5.0
AnyProbeSpec = PostgresProbeSpec | ValkeyProbeSpec | NatsProbeSpec | TcpProbeSpec


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite (everything the suite file itself does not say)."""

    run_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    only: tuple[str, ...] = ()  # experiment names to run; all when empty
    on_phase: Callable[[str, str], None] = lambda experiment, phase: None
    on_result: Callable[[FaultResult], None] = lambda result: None
    abort_requested: asyncio.Event | None = None  # set it to abort the running experiment
    stop_requested: asyncio.Event | None = None  # set it to stop the run after reverting


def _required(probe: AnyProbeSpec | None) -> AnyProbeSpec:
    assert probe is not None, "a suite has traffic or a probe (schema-enforced)"
    return probe


def default_run_dir(service: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return DEFAULT_RUNS_DIR / f"{stamp}-{service}-{secrets.token_hex(2)}"


async def _delete_proxy(client: ToxiproxyClient, name: str, notes: list[str]) -> None:
    """Delete one of the run's proxies at its end; a server gone by then is a note, not a crash."""
    try:
        await client.delete_proxy(name)
    except ProxyClientError as exc:
        notes.append(f"proxy_api: proxy {name!r} could not be deleted at the end of the run: {exc}")


async def _open_proxies(
    suite: Suite,
    stack: contextlib.AsyncExitStack,
    *,
    seed: int,
    run_dir: Path,
    notes: list[str],
) -> tuple[ToxiproxyClient, int | None]:
    """Connect to the suite's Toxiproxy-compatible API (or start ours) and set up its proxies.

    The built-in proxy runs as a child process in its own session, so it is the same
    ``cwb proxy`` users run by hand, and its toxics carry a time-to-live: a toxic left by a
    crashed controller expires by itself even before the watchdog removes it.

    On an external ``proxy_api`` the suite's proxies are the run's own: one of the same name
    already there (left by a crashed run) is replaced, each is deleted when the run ends,
    and every other proxy on the server is left alone. A server that cannot be reached or
    refuses the proxies aborts the run before anything is injected; one gone by the end of
    the run leaves a note in the record.
    """
    server_pid = None
    try:
        if suite.proxy_api:
            api_url = suite.proxy_api
        else:
            (run_dir / "logs").mkdir(parents=True, exist_ok=True)
            server = await start_proxy_server(seed=seed, log_path=run_dir / "logs" / "proxy.log")
            stack.push_async_callback(server.aclose)
            api_url, server_pid = server.api_url, server.pid
        client = ToxiproxyClient(api_url)
        stack.push_async_callback(client.aclose)
        try:
            async with asyncio.timeout(PROXY_API_ANSWER_S):
                existing = await client.proxies()
        except TimeoutError:
            raise ProxyApiUnreachable(
                f"GET {client.api_url}/proxies: no answer within {PROXY_API_ANSWER_S:g} s"
            ) from None
        for proxy in suite.proxies:
            if proxy.name in existing:  # a real Toxiproxy may hold one from an earlier run
                await client.delete_proxy(proxy.name)
            await client.create_proxy(
                proxy.name, proxy.upstream, listen=proxy.listen, enabled=proxy.enabled
            )
            if suite.proxy_api:
                stack.push_async_callback(_delete_proxy, client, proxy.name, notes)
    except ProxyClientError as exc:
        if not suite.proxy_api:
            raise RunAborted(f"the fault proxy could not be set up: {exc}") from exc
        hint = " (is the server running?)" if isinstance(exc, ProxyApiUnreachable) else ""
        raise RunAborted(
            f"proxy_api {suite.proxy_api}: cannot set up the suite's proxies{hint}: {exc}",
            exit_code=2,
        ) from exc
    return client, server_pid


def _selected(suite: Suite, only: Sequence[str]) -> tuple[ExperimentSpec, ...]:
    if not only:
        return suite.experiments
    known = {e.name for e in suite.experiments}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise RunAborted(f"no experiment named {', '.join(unknown)} in the suite", exit_code=2)
    return tuple(e for e in suite.experiments if e.name in only)


async def execute_suite(
    suite: Suite,
    options: RunOptions,
    *,
    suite_path: Path | None = None,
    interrupted: asyncio.Event | None = None,
) -> RunRecord:
    """Run ``suite`` and return its record. Cancellation stops it after reverting.

    ``interrupted`` is set by the signal handler; the record then says the run was cut short.
    Raises :class:`RunAborted` when the run cannot start (nothing has been injected then).
    """
    experiments = _selected(suite, options.only)
    run_dir = options.run_dir or default_run_dir(suite.service)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = options.seed if options.seed is not None else suite.seed
    if seed is None:
        seed = secrets.randbelow(2**32)
    rng = random.Random(seed)
    started = datetime.now(UTC)
    started_ns = time.monotonic_ns()
    journal = Journal(run_dir / "journal.jsonl")
    journal.write("run_start", service=suite.service, seed=seed, run_dir=str(run_dir))
    results: list[FaultResult] = []
    notes: list[str] = []
    runner: ExperimentRunner | None = None
    cut_short = False
    try:
        async with contextlib.AsyncExitStack() as stack:
            safety = await stack.enter_async_context(SafetyNet(run_dir))
            supervisor = Supervisor(suite.processes, run_dir=run_dir, env=dict(options.env))
            stack.push_async_callback(supervisor.aclose)
            try:
                await supervisor.start_all()
            except Exception as exc:
                raise RunAborted(f"could not start the suite's processes: {exc}") from exc
            proxies, proxy_pid = None, None
            if suite.proxies:
                proxies, proxy_pid = await _open_proxies(
                    suite, stack, seed=seed, run_dir=run_dir, notes=notes
                )
            ctx = FaultContext(
                run_dir=run_dir,
                rng=rng,
                proxies=proxies,
                processes=supervisor if suite.processes else None,
                allowed_paths=tuple(Path(p) for p in suite.blast_radius.paths),
                allowed_process_patterns=suite.blast_radius.process_patterns,
                protected_pids=tuple(pid for pid in (safety.watchdog_pid, proxy_pid) if pid),
            )
            refusals = []
            for spec in experiments:
                try:
                    fault_registry.get(spec.fault.type)(spec.fault, ctx).preflight()
                except FaultError as exc:
                    refusals.append(f"experiment {spec.name!r}: {exc}")
            if refusals:
                raise RunAborted(
                    "refused before anything was injected: " + "; ".join(refusals), exit_code=2
                )

            window_ms = suite.defaults.window_ms
            driver: LoadDriver | ProbeDriver = await stack.enter_async_context(
                LoadDriver(suite.traffic, window_ms=window_ms, rng=rng)
                if suite.traffic is not None
                else probe_driver(_required(suite.probe), window_ms=window_ms, rng=rng)
            )
            feed = WindowFeed(driver.windows())
            feed.start()
            stack.push_async_callback(feed.aclose)
            runner = ExperimentRunner(
                suite=suite,
                feed=feed,
                ctx=ctx,
                journal=journal,
                leases=safety,
                on_phase=options.on_phase,
            )
            guard = GuardrailWatch(
                suite,
                feed,
                runner,
                run_dir=run_dir,
                journal=journal,
                requested=options.abort_requested,
                rng=random.Random(rng.random()),
            )
            guard.start()
            stack.push_async_callback(guard.aclose)
            if options.stop_requested is not None:
                runner.stop = options.stop_requested
            for spec in experiments:
                if runner.stop.is_set():
                    raise asyncio.CancelledError
                try:
                    result = await runner.run(spec)
                except FeedClosed as exc:
                    notes.append(f"measurement stopped: {exc}")
                    break
                results.append(result)
                options.on_result(result)
                if result.status is ExperimentStatus.ABORTED and suite.stop_on_abort:
                    notes.append(f"suite stopped after {spec.name!r} was aborted")
                    break
    except asyncio.CancelledError:
        cut_short = True
        undone = runner.reverted if runner is not None else []
        notes.append(
            "interrupted; reverted before stopping: " + ("; ".join(undone) or "nothing was applied")
        )
    finally:
        duration_s = (time.monotonic_ns() - started_ns) / 1e9
        journal.write("run_end", interrupted=cut_short, duration_s=round(duration_s, 3))
        journal.close()
    if interrupted is not None and interrupted.is_set():
        cut_short = True
    conclusive = [r for r in results if r.status is not ExperimentStatus.INCONCLUSIVE]
    return RunRecord(
        run_id=run_dir.name,
        service=suite.service,
        suite_path=str(suite_path) if suite_path else None,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(duration_s, 3),
        seed=seed,
        results=tuple(results),
        score=ResilienceScore.from_results(results) if conclusive else None,
        interrupted=cut_short,
        notes=tuple(notes),
    )
