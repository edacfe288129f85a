"""Compound faults on a real fault proxy: held in their intervals, reverted on every exit.

A real fault proxy server (``cwb proxy serve``, a child process) sits in front of a real
HTTP server (``flaky_service.py``); suites drive it through ``proxy_api`` so the test can
watch the proxy's toxics through the same API while the run holds them. Exit paths:
success (a real ``cwb run``), an exception in a later fault's apply (in process, with the
test-only fault of ``conftest.py`` that crashes after acting: a broken fault cannot be
made any other way), and real SIGINT/SIGTERM to a real ``cwb run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.model import ExperimentStatus
from chaos_workbench.reports.json_report import read_json

CWB = [sys.executable, "-m", "chaos_workbench.cli"]
SERVICE = Path(__file__).with_name("flaky_service.py")
POLL_S = 0.02  # the proxy API answers in about a millisecond on loopback


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Rig:
    """A real HTTP service and a real fault proxy server in front of it (both children)."""

    service_url: str
    service_address: str
    proxy_api: str
    listen: str = field(default_factory=lambda: f"127.0.0.1:{_free_port()}")

    def toxics(self, client: httpx.Client | None = None) -> dict[str, int] | None:
        """Latency toxics on proxy ``db``: name → latency ms; None when there is no proxy."""
        url = f"{self.proxy_api}/proxies/db/toxics"
        if client is not None:
            response = client.get(url, timeout=5)
        else:
            response = httpx.get(url, trust_env=False, timeout=5)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return {t["name"]: t["attributes"]["latency"] for t in response.json()}

    def suite(self, faults: list[dict[str, Any]], fault_s: float) -> dict[str, Any]:
        return {
            "service": "compound",
            "traffic": {"url": f"http://{self.listen}/", "rate_per_s": 40, "timeout_ms": 3000},
            "proxy_api": self.proxy_api,
            "proxies": [{"name": "db", "listen": self.listen, "upstream": self.service_address}],
            "blast_radius": {"max_concurrent_faults": 2},
            "defaults": {"baseline_s": 1, "fault_s": fault_s, "recovery_timeout_s": 5},
            "experiments": [{"name": "both", "faults": faults}],
        }


def _start_children(tmp: Path) -> tuple[Rig, list[subprocess.Popen[str]]]:
    service = subprocess.Popen([sys.executable, str(SERVICE)], stdout=subprocess.PIPE, text=True)
    assert service.stdout is not None
    port = service.stdout.readline().strip()
    assert port.isdigit(), f"the service did not start: {port!r}"
    port_file = tmp / "api.port"
    proxy = subprocess.Popen(
        [*CWB, "proxy", "serve", "--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text().strip()):
        assert proxy.poll() is None, "the proxy server exited"
        assert time.monotonic() < deadline, "the proxy server did not start"
        time.sleep(POLL_S)
    rig = Rig(
        service_url=f"http://127.0.0.1:{port}",
        service_address=f"127.0.0.1:{port}",
        proxy_api=f"http://{port_file.read_text().strip()}",
    )
    return rig, [service, proxy]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    made, children = _start_children(tmp_path_factory.mktemp("rig"))
    yield made
    for child in children:
        child.terminate()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


class Watch:
    """Polls the proxy's toxics in a thread: (seconds, {name: latency_ms}) samples."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.samples: list[tuple[float, dict[str, int] | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 120  # bounded even if the test forgets to stop it
        with httpx.Client(trust_env=False) as client:  # one connection: cheap polls
            while not self._stop.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    self.samples.append((time.monotonic(), self.rig.toxics(client)))
                self._stop.wait(POLL_S)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def held(self, latency_ms: int) -> Held:
        """When a toxic of this latency was added and removed, each bracketed by samples."""
        present = [bool(x) and latency_ms in x.values() for _, x in self.samples]
        assert any(present), f"a {latency_ms} ms toxic was never seen on the proxy"
        first = present.index(True)
        last = len(present) - 1 - present[::-1].index(True)
        assert first > 0, "not watched from before the toxic was added"
        assert last < len(present) - 1, "not watched until after it was removed"
        times = [t for t, _ in self.samples]
        return Held((times[first - 1], times[first]), (times[last], times[last + 1]))


@dataclass
class Held:
    """A toxic's addition and removal, each between two samples of the proxy's state."""

    on: tuple[float, float]
    off: tuple[float, float]

    def since(self, other: tuple[float, float]) -> tuple[float, float]:
        """The least and the most time this toxic's removal can be after ``other``'s bounds."""
        return self.off[0] - other[1], self.off[1] - other[0]


def _leases(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "leases").glob("*.json")) if (run_dir / "leases").exists() else []


def _reverted_events(run_dir: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] == "reverted"]


# -- success: both held in their intervals, both reverted ---------------------------------

FIRST = {"type": "latency", "proxy": "db", "latency_ms": 300, "duration_s": 1.0}
SECOND = {"type": "latency", "proxy": "db", "latency_ms": 150, "at_s": 0.5}


@dataclass
class Finished:
    run_dir: Path
    watch: Watch
    output: str
    returncode: int


@pytest.fixture(scope="module")
def finished(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    tmp = tmp_path_factory.mktemp("compound")
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(rig.suite([FIRST, SECOND], fault_s=2.0)))
    run_dir = tmp / "run"
    with Watch(rig) as watch:
        result = subprocess.run(
            [*CWB, "run", str(path), "--run-dir", str(run_dir), "--no-history"],
            capture_output=True,
            text=True,
            timeout=100,
            env={**os.environ, "COLUMNS": "200"},
        )
    return Finished(run_dir, watch, result.stdout + result.stderr, result.returncode)


@pytest.mark.slow
def test_each_fault_is_held_in_its_own_interval_on_the_proxy(finished: Finished) -> None:
    assert finished.returncode == 0, finished.output
    first = finished.watch.held(300)
    second = finished.watch.held(150)
    # Each instant is known between two polls of the proxy's API; the scheduled offset must
    # fall in that bracket widened by a tolerance: 150 ms for a busy 2-core machine's timer
    # and API-call delays, well under the 500 ms steps being told apart.
    tolerance_s = 0.15
    for lo, hi, expected_s in (
        (*first.since(first.on), 1.0),
        (second.on[0] - first.on[1], second.on[1] - first.on[0], 0.5),
        (*second.since(first.on), 2.0),
    ):
        assert lo - tolerance_s < expected_s < hi + tolerance_s, (lo, hi, expected_s)
        assert hi - lo < 0.45, "the proxy was polled too rarely to tell"
    # Both together only between 0.5 s and 1.0 s: never more at once than scheduled.
    both = [t for t, toxics in finished.watch.samples if toxics and len(toxics) == 2]
    assert both
    assert both[0] >= second.on[0]
    assert both[-1] <= first.off[1]


@pytest.mark.slow
def test_the_traffic_saw_both_faults_added_then_the_second_alone(finished: Finished) -> None:
    (result,) = read_json(finished.run_dir / "report.json").results
    fault = [w for w in result.timeline if w.phase == "fault" and w.p99_ms is not None]
    inject = next(e.t_s for e in result.events if e.kind == "inject")
    # Latency is measured from each request's intended send time, so a window holds what
    # its requests met on the way back. Two latency toxics on one link add up: a response
    # held by the 300 ms toxic when the 150 ms one arrives (at 0.5 s) gets both.
    assert max(w.p99_ms or 0.0 for w in fault) >= 440, fault
    # From 1.1 s (the first fault reverted at 1.0 s) to the end of the phase at 2.0 s, the
    # second fault alone: 150 ms on every response, never the 450 ms of both together
    # (below that, room for a busy machine's scheduling delays).
    alone = [w.p99_ms for w in fault if inject + 1.1 <= w.t_s and w.t_s + 0.25 <= inject + 1.95]
    assert alone, fault
    assert all(p is not None and 150 <= p < 440 for p in alone), fault


@pytest.mark.slow
def test_the_report_has_each_faults_interval(finished: Finished) -> None:
    (result,) = read_json(finished.run_dir / "report.json").results
    assert result.status is ExperimentStatus.PASSED, result.reason
    first, second = result.faults
    assert (first.fault, first.target, second.target) == ("latency", "db", "db")
    assert "latency 300 ms on db" in first.description
    assert "latency 150 ms on db" in second.description
    assert first.end_ms is not None
    assert second.end_ms is not None
    assert 850 < first.end_ms - first.start_ms < 1150
    assert 350 < second.start_ms - first.start_ms < 650
    assert 1850 < second.end_ms - first.start_ms < 2300
    assert "fault 1: latency 300 ms on db: " in finished.output  # the terminal timeline
    reverted = _reverted_events(finished.run_dir)
    assert [e["error"] for e in reverted] == [None, None]
    assert _leases(finished.run_dir) == []


# -- an exception in a later fault's apply ----------------------------------------------


@pytest.mark.slow
async def test_a_crash_in_a_later_apply_reverts_the_faults_already_held(
    rig: Rig, tmp_path: Path
) -> None:
    crash = {
        "type": "engine_test_outage",
        "admin_url": rig.service_url,
        "crash_apply": True,  # acts (the service fails), then raises: a bug in the fault
        "at_s": 0.5,
    }
    suite = parse_suite(json.dumps(rig.suite([FIRST | {"duration_s": 5.0}, crash], 5.0)))
    run_dir = tmp_path / "run"
    with Watch(rig) as watch:
        record = await execute_suite(suite, RunOptions(run_dir=run_dir))
    (result,) = record.results
    assert result.status is ExperimentStatus.ERROR
    assert "RuntimeError: a bug in the fault" in result.reason
    held = watch.held(300)
    lo, hi = held.since(held.on)
    # Reverted once the crash at 0.5 s had happened, not at the 5 s end of the phase (the
    # crashing fault's own apply and revert are two HTTP calls, sharing this process's
    # interpreter with the run: allow them a second and a half).
    assert lo > 0.5 - 0.15, (lo, hi)
    assert hi < 2.0, (lo, hi)
    # ... while the run's proxy was still there: the revert removed it, not the cleanup.
    assert any(t > held.off[0] and toxics == {} for t, toxics in watch.samples)
    # The crashed fault was reverted too: its revert made the service answer again.
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(rig.service_url)).status_code == 200
    assert [i.fault for i in result.faults] == ["latency", "engine_test_outage"]
    assert all(i.end_ms is not None for i in result.faults)
    assert [e["error"] for e in _reverted_events(run_dir)] == [None, None]
    assert _leases(run_dir) == []


# -- Ctrl-C and SIGTERM to a real `cwb run` -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_both_are_held_reverts_both(
    rig: Rig, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    first = FIRST | {"duration_s": 30.0}
    second = SECOND | {"at_s": 0.2}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(rig.suite([first, second], fault_s=30.0)))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CWB, "run", str(path), "--run-dir", str(run_dir), "--no-history"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(rig.toxics() or {}) < 2:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the faults were never both applied"
        time.sleep(POLL_S)
    assert len(_leases(run_dir)) == 2  # one lease per fault, written before its apply
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    reverted = _reverted_events(run_dir)
    assert sorted(e["fault"] for e in reverted) == ["latency 150 ms on db", "latency 300 ms on db"]
    assert [e["error"] for e in reverted] == [None, None]
    assert _leases(run_dir) == []
    # Nothing left on the proxy server: the run's proxy is gone and no other holds a toxic.
    proxies = httpx.get(f"{rig.proxy_api}/proxies", trust_env=False).json()
    assert all(p["toxics"] == [] for p in proxies.values())
    assert json.loads((run_dir / "report.json").read_text())["interrupted"] is True
