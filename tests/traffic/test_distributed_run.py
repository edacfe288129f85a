"""Distributed load on a real Dask scheduler and real worker processes, against a real server.

One ``LocalCluster`` (processes) serves the module through its ``tcp://`` address, the path
``--scheduler`` takes; the killed-worker test starts its own cluster through ``workers: 2``
(the other path), because killing a worker changes the cluster.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_workbench.traffic.distributed import (
    LOCAL_CLUSTER_OPTIONS,
    DistributedLoadDriver,
    DistributedLoadError,
)
from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.window import Window, merge_windows

from .conftest import TestServer as Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, **LOCAL_CLUSTER_OPTIONS)
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def _spec(server: Server, rate_per_s: float, timeout_ms: float = 2000.0) -> TrafficSpec:
    return TrafficSpec.model_validate(
        {
            "url": server.url,
            "rate_per_s": rate_per_s,
            "timeout_ms": timeout_ms,
            "requests": [{"path": "/ok"}],
        }
    )


async def test_two_workers_split_the_rate_and_merge_exactly(
    scheduler: str, http_server: Server
) -> None:
    """400/s for 2 s over 2 workers: exactly 800 sent, each window the sum of the shares'."""
    shares: dict[int, list[Window]] = {0: [], 1: []}
    driver = DistributedLoadDriver(
        _spec(http_server, 400.0),
        seed=1,
        duration_s=2.0,
        scheduler=scheduler,
        on_share_window=lambda share, window: shares[share].append(window),
    )
    driver.keep_requests = True
    windows: list[Window] = []
    async with driver:
        async for window in driver.windows():
            windows.append(window)
            # Streaming: each window reaches us well before the run ends (2 s + 1 s lead).
            assert time.monotonic_ns() < driver.start_ns + 2_000_000_000 + window.duration_ns * 4
    # Constant arrivals: the plan has exactly rate × duration requests, split 400 / 400.
    assert sum(w.requests for w in windows) == 800 == len(http_server.requests)
    assert [sum(w.requests for w in shares[s]) for s in (0, 1)] == [400, 400]
    assert [w.requests for w in windows] == [100] * 8  # 250 ms windows of 400/s, aligned
    assert all(w.successes == w.requests and not w.missing_shares for w in windows)
    for k, window in enumerate(windows):
        assert window.start_ns == driver.start_ns + k * window.duration_ns
        expected = merge_windows([shares[0][k], shares[1][k]])
        assert window.requests == expected.requests
        assert window.histogram.get_total_count() == expected.histogram.get_total_count()
        for p in (50.0, 99.0, 100.0):
            assert window.histogram.get_value_at_percentile(
                p
            ) == expected.histogram.get_value_at_percentile(p)
        assert window.outcomes is not None
        assert len(window.outcomes) == window.requests
        intended = window.outcomes.intended_ns
        assert ((intended >= window.start_ns) & (intended < window.end_ns)).all()
    assert driver.lost_shares == ()
    assert driver.stats.sent == 800
    # Both workers started within 50 ms of the instant (it is on one machine's clock).
    assert all(abs(e) < 50 for e in driver.start_errors_ms.values()), driver.start_errors_ms


async def test_more_workers_than_the_scheduler_has_are_refused(
    scheduler: str, http_server: Server
) -> None:
    driver = DistributedLoadDriver(
        _spec(http_server, 10.0), seed=0, duration_s=1.0, workers=3, scheduler=scheduler
    )
    with pytest.raises(DistributedLoadError, match="3 workers asked for, the scheduler has 2"):
        async with driver:
            pass


async def test_a_killed_worker_is_reported_its_share_missing(http_server: Server) -> None:
    """SIGKILL one of two workers mid-run: later windows carry one share and name the other."""
    driver = DistributedLoadDriver(
        _spec(http_server, 200.0, timeout_ms=300.0),
        seed=2,
        duration_s=3.0,
        workers=2,
        grace_s=0.5,
    )
    windows: list[Window] = []
    async with driver:
        victim = sorted(driver.worker_pids)[1]  # share 1's worker
        async for window in driver.windows():
            windows.append(window)
            if len(windows) == 2:
                os.kill(driver.worker_pids[victim], signal.SIGKILL)
    [loss] = driver.lost_shares
    assert (loss.share, loss.worker) == (1, victim)
    first = loss.first_missing_window
    assert 2 <= first <= 4  # it was killed after window 1 was merged (windows in flight then)
    assert all(not w.missing_shares and w.requests == 50 for w in windows[:first])
    after = windows[first:]
    assert after, "the run went on with the surviving worker"
    # The survivor's half only, never scaled back up to the planned 50 per window.
    assert all(w.missing_shares == (1,) and w.behind_schedule for w in after)
    assert all(w.requests == 25 for w in after), [w.requests for w in after]


async def test_a_scheduler_off_loopback_is_refused(http_server: Server) -> None:
    spec = _spec(http_server, 10.0)
    with pytest.raises(DistributedLoadError, match=r"'192\.0\.2\.7' is not on loopback"):
        DistributedLoadDriver(spec, seed=0, scheduler="tcp://192.0.2.7:8786")
    with pytest.raises(DistributedLoadError, match=r"tcp://host:port"):
        DistributedLoadDriver(spec, seed=0, scheduler="http://127.0.0.1:8786")


def _cwb(*args: str) -> subprocess.CompletedProcess[str]:
    cwb = Path(sys.executable).with_name("cwb")
    return subprocess.run(
        [str(cwb), *args], capture_output=True, text=True, timeout=60, check=False
    )


async def test_cwb_load_over_a_scheduler_and_its_bad_input(
    scheduler: str, http_server: Server
) -> None:
    """``cwb load --scheduler``: the merged summary as JSON; mistakes exit 2 in one line."""
    url = f"{http_server.url}/ok"
    done = await asyncio.to_thread(
        _cwb, "load", url, "--rate", "200", "--duration", "1", "--scheduler", scheduler, "--json"
    )
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout)
    assert (summary["shares"], summary["lost_shares"]) == (2, [])
    assert summary["load"]["requests"] == 200
    for args, message in [
        (("--workers", "0"), "--workers must be at least 1"),
        (("--scheduler", "http://127.0.0.1:1"), "tcp://host:port"),
        (("--scheduler", "tcp://192.0.2.7:8786"), "not on loopback"),
    ]:
        bad = await asyncio.to_thread(_cwb, "load", url, "--duration", "1", *args)
        assert bad.returncode == 2, bad.stderr
        assert message in bad.stderr
        assert "Traceback" not in bad.stderr


def test_a_suite_with_bad_distributed_settings_is_refused_by_line(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "suite.yaml"
    text = example.read_text().replace(
        "traffic:", "traffic:\n  workers: 0\n  scheduler: http://127.0.0.1:1\n  #", 1
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(text)
    done = _cwb("validate", str(suite))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert f"{suite}:10: traffic.workers: Input should be greater than or equal to 1" in lines
    assert any(line.startswith(f"{suite}:11: traffic.scheduler: expected a Dask") for line in lines)


async def test_cwb_run_with_scheduler_drives_the_suite_traffic_from_the_workers(
    scheduler: str, http_server: Server, tmp_path: Path
) -> None:
    """A real ``cwb run --scheduler``: the suite's traffic comes from the cluster's workers
    (both publish windows on the run's topic) and the engine judges it as usual."""
    import json
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{sock.getsockname()[1]}"
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "service: dist\n"
        f"traffic: {{url: 'http://{listen}/ok', rate_per_s: 50}}\n"
        f"proxies: [{{name: svc, listen: '{listen}', upstream: '127.0.0.1:{http_server.port}'}}]\n"
        "defaults: {baseline_s: 1, fault_s: 1, recovery_timeout_s: 10}\n"
        "experiments: [{name: down, fault: {type: down, proxy: svc}}]\n"
    )
    cwb = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chaos_workbench.cli", "run", str(suite)),
        *("--scheduler", scheduler, "--no-history", "--run-dir", str(tmp_path / "run")),
        *("--json", str(tmp_path / "report.json")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(cwb.communicate(), 120)
    assert cwb.returncode == 0, out.decode()[-3000:]
    (result,) = json.loads((tmp_path / "report.json").read_text())["results"]
    assert result["status"] == "passed", result["reason"]
    assert result["impact"] == "full_outage"  # the proxy refused every worker's requests
    assert result["recovery_time_ms"] is not None

    def worker_topics() -> dict[str, set[str]]:
        from distributed import Client

        with Client(scheduler, timeout=10) as client:
            events = client.get_events()
        return {
            topic: {str(message.get("worker")) for _, message in items}
            for topic, items in events.items()
            if topic.startswith("cwb-load-")
        }

    topics = await asyncio.to_thread(worker_topics)
    # This run's topic is the one whose events came from both workers; earlier tests of the
    # module used the same scheduler, so there may be others.
    assert any(len(workers) == 2 for workers in topics.values()), topics


def test_cwb_run_scheduler_refuses_a_malformed_address_and_a_probe_suite(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "service: s\ntraffic: {url: 'http://127.0.0.1:9/'}\n"
        "proxies: [{name: p, listen: '127.0.0.1:8', upstream: '127.0.0.1:9'}]\n"
        "experiments: [{name: x, fault: {type: down, proxy: p}}]\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos_workbench.cli",
            "run",
            str(suite),
            "--no-history",
            "--run-dir",
            str(tmp_path / "run"),
            "--scheduler",
            "http://127.0.0.1:8786",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--scheduler: " in done.stdout + done.stderr
    assert "tcp://host:port" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
