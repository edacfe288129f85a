"""``cwb load URL``: open-loop HTTP load in the spirit of wrk2 and vegeta.

Sends ``--rate`` requests per second for ``--duration`` seconds whatever the server does,
measures latency from each request's intended send time, shows the last window live
(achieved rate, errors, p50/p99) and prints a summary table, or JSON with ``--json``.
Ctrl-C stops sending, waits for the requests in flight and prints the summary so far.

Mistakes (a malformed URL, a rate ≤ 0, a bad header) and an unreachable target are one
clear line on stderr and exit code 2; a target that fails mid-run is measured, not fatal.
"""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import sys
from collections.abc import Coroutine
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from chaos_workbench.traffic.driver import LoadDriver
from chaos_workbench.traffic.requests import Target
from chaos_workbench.traffic.spec import RequestSpec, TrafficSpec
from chaos_workbench.traffic.summary import LoadSummary, summarize
from chaos_workbench.traffic.window import Window

__all__ = ["app", "load_command"]

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class UsageProblem(Exception):
    """A mistake in the command line or an unreachable target: exit code 2."""


def build_spec(
    url: str,
    *,
    rate: float,
    connections: int | None,
    users: int | None,
    method: str,
    body: str | None,
    headers: list[str],
    arrival: str,
    timeout_ms: float,
    insecure: bool,
) -> TrafficSpec:
    """The traffic spec for the command line, or ``UsageProblem`` saying what is wrong."""
    if rate <= 0:
        raise UsageProblem(f"--rate must be greater than 0 requests per second, got {rate:g}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageProblem(f"not an http:// or https:// URL with a host: {url!r}")
    try:
        Target.parse(url)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    method = method.upper()
    if method not in _METHODS:
        raise UsageProblem(f"--method must be one of {', '.join(_METHODS)}, got {method!r}")
    header_map: dict[str, str] = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageProblem(f"--header must look like 'Name: value', got {item!r}")
        header_map[name.strip()] = value.strip()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        return TrafficSpec(
            url=f"{parts.scheme}://{parts.netloc}",
            rate_per_s=rate,
            arrival=arrival,
            timeout_ms=timeout_ms,
            connections=connections,
            mode="closed" if users else "open",
            users=users,
            verify_tls=not insecure,
            requests=(RequestSpec(method=method, path=path, headers=header_map, body=body),),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageProblem(f"{where}: {first['msg']}") from None


def check_reachable(spec: TrafficSpec, timeout_s: float = 2.0) -> None:
    """One TCP connection before the run: a typo'd port fails at once, not as 100 % errors."""
    target = Target.parse(spec.url)
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        raise UsageProblem(f"cannot reach {target.host}:{target.port}: {reason}") from None


def _live_table(window: Window, elapsed_s: float, stats_errors: int, target: float | None) -> Table:
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("elapsed", "rate/s", "target/s", "errors", "p50 ms", "p99 ms", ""):
        table.add_column(column, justify="right")
    rate = window.requests / (window.duration_ns / 1e9) if window.duration_ns else 0.0
    p50, p99 = window.percentile_ms(50), window.percentile_ms(99)
    table.add_row(
        f"{elapsed_s:.1f} s",
        f"{rate:,.0f}",
        "closed" if target is None else f"{target:,.0f}",
        f"{stats_errors:,}",
        "-" if p50 is None else f"{p50:.2f}",
        "-" if p99 is None else f"{p99:.2f}",
        "[yellow]behind schedule[/]" if window.behind_schedule else "",
    )
    return table


def summary_table(summary: LoadSummary) -> Table:
    """The end-of-run table."""
    table = Table(title=f"cwb load {summary.url}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    target = (
        "closed loop"
        if summary.target_rate_per_s is None
        else f"{summary.target_rate_per_s:,.1f}/s"
    )
    table.add_row(
        "duration",
        f"{summary.duration_s:.2f} s" + (" (interrupted)" if summary.interrupted else ""),
    )
    table.add_row("rate achieved / target", f"{summary.achieved_rate_per_s:,.1f}/s / {target}")
    table.add_row("requests", f"{summary.requests:,}")
    ratio = "-" if summary.success_ratio is None else f"{summary.success_ratio * 100:.2f} %"
    table.add_row("successes", f"{summary.successes:,} ({ratio})")
    for kind, n in summary.errors_by_kind.items():
        table.add_row(f"  {kind}", f"{n:,}")
    for key, value in summary.latency_ms.items():
        table.add_row(f"latency {key}", f"{value:,.2f} ms")
    table.add_row("connections opened", f"{summary.connections_opened:,}")
    table.add_row("bytes received", f"{summary.bytes_received:,}")
    if not summary.reliable:
        table.add_row(
            "[yellow]behind schedule[/]",
            f"[yellow]{summary.behind_schedule_windows} windows: the load generator could "
            "not keep its rate; treat these numbers with care[/]",
        )
    return table


async def run_load(
    spec: TrafficSpec,
    *,
    duration_s: float,
    window_ms: int,
    seed: int,
    console: Console | None,
) -> LoadSummary:
    """Run the driver with a live view; the first Ctrl-C ends it early (summary so far)."""
    loop = asyncio.get_running_loop()
    interrupted = False
    driver = LoadDriver(spec, window_ms=window_ms, rng=random.Random(seed), duration_s=duration_s)

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        driver.stop()

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    target = None if spec.mode == "closed" else spec.rate_per_s
    try:
        async with driver:
            errors = 0
            live = Live(console=console, auto_refresh=False, transient=True) if console else None
            if live is not None:
                live.start()
            try:
                async for window in driver.windows():
                    errors += window.requests - window.successes
                    if live is not None:
                        elapsed = (
                            (window.end_ns - driver.recorder.start_ns) / 1e9
                            if driver.recorder
                            else 0.0
                        )
                        live.update(_live_table(window, elapsed, errors, target), refresh=True)
            finally:
                if live is not None:
                    live.stop()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return summarize(
        driver.stats, url=spec.url + spec.requests[0].path, mode=spec.mode, interrupted=interrupted
    )


def _run(coro: Coroutine[Any, Any, LoadSummary]) -> LoadSummary:
    """Run on uvloop when installed (a faster event loop: more requests per core)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a core dependency off Windows
        return asyncio.run(coro)
    result: LoadSummary = uvloop.run(coro)
    return result


@app.command("load")
def load_command(
    url: Annotated[str, typer.Argument(help="Target URL, e.g. http://127.0.0.1:8080/orders/1")],
    rate: Annotated[
        float, typer.Option("--rate", "-r", help="Requests per second (open loop).")
    ] = 100.0,
    duration: Annotated[float, typer.Option("--duration", "-d", help="Seconds to run.")] = 10.0,
    connections: Annotated[
        int | None,
        typer.Option(
            "--connections", "-c", help="Bound on the keep-alive pool (default: automatic)."
        ),
    ] = None,
    users: Annotated[
        int | None,
        typer.Option(
            "--users", "-u", help="Closed loop with N users instead of a rate (like wrk)."
        ),
    ] = None,
    method: Annotated[str, typer.Option("--method", "-m")] = "GET",
    body: Annotated[
        str | None,
        typer.Option("--body", help="Request body; {{counter}} and {{random_id}} are filled in."),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value', repeatable.")
    ] = None,
    arrival: Annotated[str, typer.Option("--arrival", help="constant or poisson.")] = "constant",
    timeout_ms: Annotated[
        float, typer.Option("--timeout-ms", help="Per-request deadline.")
    ] = 2000.0,
    window_ms: Annotated[int, typer.Option("--window-ms", help="Measurement window.")] = 250,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for Poisson arrivals and templates.")
    ] = 0,
    insecure: Annotated[
        bool, typer.Option("--insecure", "-k", help="Do not verify TLS certificates.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Split the rate over N Dask workers (a local cluster)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Use a running Dask scheduler, tcp://host:port."),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="A scheduler host off loopback to allow, repeatable."),
    ] = None,
) -> None:
    """Open-loop HTTP load: latency from the intended send time (no coordinated omission)."""
    err = Console(stderr=True)
    try:
        if duration <= 0:
            raise UsageProblem(f"--duration must be greater than 0 seconds, got {duration:g}")
        if arrival not in ("constant", "poisson"):
            raise UsageProblem(f"--arrival must be constant or poisson, got {arrival!r}")
        if users is not None and users <= 0:
            raise UsageProblem(f"--users must be at least 1, got {users}")
        spec = build_spec(
            url,
            rate=rate,
            connections=connections,
            users=users,
            method=method,
            body=body,
            headers=header or [],
            arrival=arrival,
            timeout_ms=timeout_ms,
            insecure=insecure,
        )
        check_reachable(spec)
        if workers is not None or scheduler is not None:  # docs/traffic.md, distributed load
            _distributed(
                spec, duration, window_ms, seed, workers, scheduler, allow_host, json_output
            )
            return
    except UsageProblem as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    live_console = err if err.is_terminal else None
    summary = _run(
        run_load(spec, duration_s=duration, window_ms=window_ms, seed=seed, console=live_console)
    )
    if json_output:
        sys.stdout.write(summary.model_dump_json(indent=2) + "\n")
    else:
        Console().print(summary_table(summary))


def _distributed(
    spec: TrafficSpec,
    duration_s: float,
    window_ms: int,
    seed: int,
    workers: int | None,
    scheduler: str | None,
    allow_host: list[str] | None,
    json_output: bool,
) -> None:
    """``cwb load`` over Dask workers (``traffic.distributed``); its mistakes exit 2."""
    try:
        from chaos_workbench.traffic.distributed import DistributedLoadError, check_scheduler
        from chaos_workbench.traffic.distributed.load import run_distributed_load
    except ImportError as exc:
        raise UsageProblem(f"distributed load needs the 'distributed' extra: {exc}") from None
    if spec.mode == "closed":
        raise UsageProblem("--workers/--scheduler split an open-loop rate: drop --users")
    if workers is not None and workers < 1:
        raise UsageProblem(f"--workers must be at least 1, got {workers}")
    try:
        if scheduler is not None:
            check_scheduler(scheduler, tuple(allow_host or ()))
        summary = asyncio.run(
            run_distributed_load(
                spec,
                duration_s=duration_s,
                window_ms=window_ms,
                seed=seed,
                workers=workers,
                scheduler=scheduler,
                allowed_hosts=tuple(allow_host or ()),
            )
        )
    except DistributedLoadError as exc:
        raise UsageProblem(str(exc)) from None
    if json_output:
        sys.stdout.write(summary.model_dump_json(indent=2) + "\n")
        return
    out = Console()
    out.print(summary_table(summary.load))
    out.print(f"{summary.shares} shares on {summary.scheduler or 'a local cluster'}")
    for loss in summary.lost_shares:
        out.print(
            f"[yellow]share {loss.share} lost from window {loss.first_missing_window} "
            f"({loss.worker or 'worker unknown'}): {loss.reason}; its load is missing[/]",
            highlight=False,
        )
