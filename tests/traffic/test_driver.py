"""The load driver against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import socket
import time
from typing import TYPE_CHECKING

import pytest

from chaos_workbench.traffic.driver import LoadDriver
from chaos_workbench.traffic.spec import RequestSpec, StageSpec, TrafficSpec
from chaos_workbench.traffic.stats import RequestRecord
from chaos_workbench.traffic.window import ErrorKind, Window

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib at run time
    from conftest import TestServer


async def run(
    spec: TrafficSpec,
    duration_s: float | None = None,
    window_ms: int = 250,
    records: list[RequestRecord] | None = None,
) -> tuple[list[Window], LoadDriver]:
    windows: list[Window] = []
    hook = records.append if records is not None else None
    async with LoadDriver(
        spec, window_ms=window_ms, rng=random.Random(7), duration_s=duration_s, on_request=hook
    ) as driver:
        async for window in driver.windows():
            windows.append(window)
    return windows, driver


async def test_constant_rate_sends_exactly_the_plan_in_time(http_server: TestServer) -> None:
    spec = TrafficSpec(url=http_server.url + "/ok", rate_per_s=400)
    started = time.monotonic()
    windows, driver = await run(spec, duration_s=1.5)
    elapsed = time.monotonic() - started
    assert sum(w.requests for w in windows) == 600  # 400/s × 1.5 s, first one at t = 0
    assert all(w.successes == w.requests == 100 for w in windows)
    assert len(windows) == 6
    assert 1.4 < elapsed < 3.0  # the plan takes its time: not a burst, not a crawl
    starts = [w.start_ns for w in windows]
    assert starts == sorted(starts)
    assert all(b.start_ns - a.start_ns == 250_000_000 for a, b in itertools.pairwise(windows))
    stats = driver.stats
    assert stats.total.requests == 600
    assert stats.achieved_rate_per_s == pytest.approx(400, rel=0.01)
    # sized to rate × latency (a few; more after a scheduling hiccup), not to its bound (800)
    assert stats.connections_opened < 100
    assert len(http_server.requests) == 600


async def test_poisson_arrivals_are_seeded_and_near_the_rate(http_server: TestServer) -> None:
    spec = TrafficSpec(url=http_server.url + "/ok", rate_per_s=500, arrival="poisson")
    counts = []
    for _ in range(2):
        windows, _ = await run(spec, duration_s=1.0)
        counts.append(sum(w.requests for w in windows))
    assert counts[0] == counts[1]  # same seed, same plan
    assert abs(counts[0] - 500) < 4 * 500**0.5  # four standard deviations of Poisson(500)


async def test_stages_follow_the_ramp(http_server: TestServer) -> None:
    spec = TrafficSpec(
        url=http_server.url + "/ok",
        rate_per_s=100,
        stages=(
            StageSpec(duration_s=0.5, rate_per_s=500),
            StageSpec(duration_s=0.5, rate_per_s=500),
        ),
    )
    windows, _ = await run(spec)
    # ∫ rate = 0.5 s × (100 + 500)/2 + 0.5 s × 500 = 150 + 250
    assert sum(w.requests for w in windows) == pytest.approx(400, abs=2)
    assert windows[0].requests < windows[-1].requests


async def test_latency_counts_from_the_intended_time_through_a_stall(
    http_server: TestServer,
) -> None:
    """A 400 ms stall with 2 connections: requests planned during it wait, and say so."""
    records: list[RequestRecord] = []
    spec = TrafficSpec(url=http_server.url + "/stall", rate_per_s=200, connections=2)
    loop = asyncio.get_running_loop()
    stall_at: list[int] = []

    def stall() -> None:
        stall_at.append(time.monotonic_ns())
        http_server.stall_until_ns = stall_at[0] + 400_000_000

    loop.call_later(0.5, stall)
    windows, _ = await run(spec, duration_s=1.5, records=records)
    assert sum(w.requests for w in windows) == 300
    start, end = stall_at[0], stall_at[0] + 400_000_000
    during = [r for r in records if start + 20_000_000 < r.intended_ns < end - 20_000_000]
    assert len(during) > 50
    for r in during:
        remaining_ms = (end - r.intended_ns) / 1e6
        assert r.latency_ms >= remaining_ms - 5  # never less than the stall left to run
    total = windows[0].histogram
    for w in windows[1:]:
        total.add(w.histogram)
    # ~80 of 300 requests were planned during the stall: p90 shows it
    assert total.get_value_at_percentile(90) / 1000 > 100


async def test_closed_loop_hides_the_stall_that_open_loop_shows(http_server: TestServer) -> None:
    records: list[RequestRecord] = []
    spec = TrafficSpec(url=http_server.url + "/stall", mode="closed", users=1)
    asyncio.get_running_loop().call_later(
        0.3, lambda: setattr(http_server, "stall_until_ns", time.monotonic_ns() + 400_000_000)
    )
    await run(spec, duration_s=1.0, records=records)
    slow = [r for r in records if r.latency_ms > 300]
    assert len(records) > 50
    assert len(slow) == 1  # one user, one slow answer: the stall counts once


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/503", ErrorKind.HTTP_5XX),
        ("/404", ErrorKind.HTTP_4XX),
        ("/reset", ErrorKind.RESET),
        ("/garbage", ErrorKind.PROTOCOL),
        ("/silent", ErrorKind.READ_TIMEOUT),
    ],
)
async def test_each_error_kind_is_classified(
    http_server: TestServer, path: str, kind: ErrorKind
) -> None:
    spec = TrafficSpec(url=http_server.url + path, rate_per_s=40, timeout_ms=200)
    windows, _ = await run(spec, duration_s=0.5)
    total = sum(w.requests for w in windows)
    assert total == 20
    errors: dict[ErrorKind, int] = {}
    for w in windows:
        for k, n in w.errors.items():
            errors[k] = errors.get(k, 0) + n
    assert errors == {kind: 20}
    assert sum(w.successes for w in windows) == 0


async def test_refused_connections_are_errors_not_crashes(unused_port: int) -> None:
    spec = TrafficSpec(url=f"http://127.0.0.1:{unused_port}/", rate_per_s=100)
    windows, _ = await run(spec, duration_s=0.5)
    assert sum(w.errors.get(ErrorKind.CONNECT_REFUSED, 0) for w in windows) == 50


async def test_connect_timeout_when_the_listener_never_accepts() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue so that further SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    try:
        port = listener.getsockname()[1]
        spec = TrafficSpec(
            url=f"http://127.0.0.1:{port}/", rate_per_s=20, connect_timeout_ms=150, timeout_ms=400
        )
        windows, _ = await run(spec, duration_s=0.5)
        errors = {k for w in windows for k in w.errors}
        assert errors == {ErrorKind.CONNECT_TIMEOUT}
        assert sum(w.requests for w in windows) == 10
    finally:
        for s in [*fillers, listener]:
            s.close()


async def test_target_going_away_mid_run_is_errors_in_windows(http_server: TestServer) -> None:
    spec = TrafficSpec(url=http_server.url + "/ok", rate_per_s=200, timeout_ms=300)
    asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(http_server.close()))
    windows, _ = await run(spec, duration_s=1.0)
    assert sum(w.requests for w in windows) == 200
    assert windows[0].successes == windows[0].requests > 0
    late = windows[-1]
    assert late.successes == 0
    assert late.errors.get(ErrorKind.CONNECT_REFUSED, 0) > 0


async def test_connection_close_responses_are_handled(http_server: TestServer) -> None:
    spec = TrafficSpec(url=http_server.url + "/close", rate_per_s=100)
    windows, driver = await run(spec, duration_s=0.5)
    assert sum(w.successes for w in windows) == 50
    assert driver.stats.connections_opened == 50


async def test_templates_headers_and_weights_reach_the_server(http_server: TestServer) -> None:
    spec = TrafficSpec(
        url=http_server.url,
        rate_per_s=200,
        requests=(
            RequestSpec(
                method="POST",
                path="/ok",
                weight=3,
                headers={"X-Test": "yes"},
                json={"n": "{{counter}}", "id": "{{random_id}}"},
            ),
            RequestSpec(method="HEAD", path="/ok", weight=1),
        ),
    )
    windows, _ = await run(spec, duration_s=1.0)
    assert sum(w.successes for w in windows) == 200
    posts = [json.loads(body) for line, body in http_server.requests if line.startswith("POST")]
    heads = [line for line, _ in http_server.requests if line.startswith("HEAD")]
    assert 120 < len(posts) < 180  # weight 3 : 1 of 200
    assert len(posts) + len(heads) == 200
    assert sorted(int(p["n"]) for p in posts) == list(range(len(posts)))
    assert len({p["id"] for p in posts}) == len(posts)


async def test_a_blocked_event_loop_marks_windows_behind_schedule(
    http_server: TestServer,
) -> None:
    spec = TrafficSpec(url=http_server.url + "/ok", rate_per_s=500)
    asyncio.get_running_loop().call_later(0.3, time.sleep, 0.2)  # the loop saturated
    windows, driver = await run(spec, duration_s=1.0)
    assert sum(w.requests for w in windows) == 500
    behind = [w for w in windows if w.behind_schedule]
    assert behind
    assert max(w.max_send_lag_ms for w in behind) > 100
    assert driver.stats.behind_schedule


async def test_stop_ends_the_windows_early(http_server: TestServer) -> None:
    spec = TrafficSpec(url=http_server.url + "/ok", rate_per_s=100)
    windows: list[Window] = []
    async with LoadDriver(spec, rng=random.Random(1)) as driver:
        asyncio.get_running_loop().call_later(0.6, driver.stop)
        async with asyncio.timeout(5):
            async for window in driver.windows():
                windows.append(window)
    assert 2 <= len(windows) <= 5
    assert 50 <= sum(w.requests for w in windows) <= 90  # about 60: 100/s until 0.6 s


def test_runs_on_uvloop(server_class: type[TestServer]) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[list[Window], LoadDriver]:
        server = server_class()
        await server.start()
        try:
            spec = TrafficSpec(
                url=server.url,
                rate_per_s=400,
                requests=(RequestSpec(path="/ok", weight=3), RequestSpec(path="/503", weight=1)),
            )
            return await run(spec, duration_s=0.5)
        finally:
            await server.close()

    windows, driver = uvloop.run(main())
    assert sum(w.requests for w in windows) == 200
    errors = sum(w.errors.get(ErrorKind.HTTP_5XX, 0) for w in windows)
    assert 25 < errors < 75
    assert sum(w.successes for w in windows) == 200 - errors
    assert driver.stats.connections_opened >= 1


async def test_https_with_a_trusted_and_an_untrusted_certificate(
    server_class: type[TestServer], tls_cert: tuple[str, str]
) -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_cert)
    server = server_class()
    await server.start(context)
    try:
        trusted = TrafficSpec(url=server.url + "/ok", rate_per_s=40, ca_file=tls_cert[0])
        windows, driver = await run(trusted, duration_s=0.5)
        assert sum(w.successes for w in windows) == 20
        assert driver.stats.connections_opened < 20  # TLS connections are kept alive, reused
        untrusted = TrafficSpec(url=server.url + "/ok", rate_per_s=40)
        windows, _ = await run(untrusted, duration_s=0.5)
        assert {k for w in windows for k in w.errors} == {ErrorKind.PROTOCOL}
        insecure = TrafficSpec(url=server.url + "/ok", rate_per_s=40, verify_tls=False)
        windows, _ = await run(insecure, duration_s=0.5)
        assert sum(w.successes for w in windows) == 20
    finally:
        await server.close()


async def test_pool_grows_to_rate_times_latency(http_server: TestServer) -> None:
    """50 ms answers at 200/s need about 10 connections (Little's law), not the bound (400)."""
    spec = TrafficSpec(url=http_server.url + "/slow", rate_per_s=200)
    windows, driver = await run(spec, duration_s=1.0)
    assert sum(w.successes for w in windows) == 200
    assert 8 <= driver.stats.connections_opened <= 60
    assert all((w.percentile_ms(50) or 0) >= 49 for w in windows)


async def test_cancelled_while_draining_closes_everything(http_server: TestServer) -> None:
    """Cancelled twice (the second cancel cuts the drain short): nothing is left open."""
    spec = TrafficSpec(url=http_server.url + "/silent", rate_per_s=100, timeout_ms=10_000)
    holder: list[LoadDriver] = []

    async def body() -> None:
        async with LoadDriver(spec, rng=random.Random(1)) as driver:
            holder.append(driver)
            await asyncio.sleep(60)

    task = asyncio.create_task(body())
    async with asyncio.timeout(10):
        while len(http_server.transports) < 5:  # requests in flight, unanswered
            await asyncio.sleep(0.01)
    task.cancel()
    async with asyncio.timeout(5):
        while not holder[0].stopping:  # the first cancel reached the drain
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    driver = holder[0]
    assert driver.stats.connections_open == 0
    windows = [w async for w in driver.windows()]  # the last windows are out, and the stream ended
    assert sum(w.requests for w in windows) >= 5
    assert {k for w in windows for k in w.errors} == {ErrorKind.READ_TIMEOUT}
    async with asyncio.timeout(5):
        while http_server.transports:  # the server saw every connection go
            await asyncio.sleep(0.01)
