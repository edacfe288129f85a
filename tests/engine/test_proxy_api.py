"""Suites with ``proxy_api``: the engine drives an external Toxiproxy-compatible server.

The external server is our own ``cwb proxy serve`` started as a separate process at a URL,
standing in for a real Toxiproxy. The test watches that server's REST API on its own
(plain HTTP, not the engine's client) while the engine holds a fault, so it sees what a
Toxiproxy user would see: the suite's proxy with the engine's toxic during the hold, the
proxy disabled and enabled again for ``down``, and nothing of the run's left afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chaos_workbench.engine.runner import RunAborted, RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus, ImpactLevel, RunRecord
from chaos_workbench.proxy.client import ProxyServerHandle, start_proxy_server

UA = {"User-Agent": "cwb-tests"}  # never a browser's: the API refuses those with 403
CWB_RUN = (sys.executable, "-m", "chaos_workbench.cli", "run")
LATENCY_MS = 200
# Slack above the configured delay: a loaded 2-core machine adds scheduling noise to both
# the engine's load driver and this test's own request, never less than the delay itself.
LATENCY_SLACK_MS = 150


@pytest.fixture
async def external() -> AsyncIterator[ProxyServerHandle]:
    """``cwb proxy serve`` as its own process on an ephemeral port (the "external" server)."""
    async with await start_proxy_server(seed=3) as server:
        yield server


@pytest.fixture
async def api(external: ProxyServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    """The test's own view of the external server's REST API."""
    async with httpx.AsyncClient(
        base_url=external.api_url, headers=UA, timeout=5.0, trust_env=False
    ) as http:
        yield http


@dataclass
class Observation:
    """What the watcher saw of one proxy on the external server, in order."""

    states: list[dict[str, Any] | None] = field(default_factory=list)  # None: proxy absent
    through_ms: float | None = None  # one request through the proxy while the toxic was on
    refused_while_down: bool | None = None

    def enabled_sequence(self) -> list[bool]:
        """The distinct successive ``enabled`` values seen (absent proxies skipped)."""
        seen: list[bool] = []
        for state in self.states:
            if state is not None and (not seen or seen[-1] != state["enabled"]):
                seen.append(bool(state["enabled"]))
        return seen


def engine_toxics(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The toxics on a proxy that the engine added (its names start with ``cwb_``)."""
    return [t for t in (state or {}).get("toxics", ()) if t["name"].startswith("cwb_")]


async def watch(
    http: httpx.AsyncClient,
    proxy: str,
    observation: Observation,
    *,
    when: Callable[[dict[str, Any]], bool],
    then: Callable[[], Awaitable[None]],
    deadline_s: float = 20.0,
) -> None:
    """Poll ``GET /proxies`` every 50 ms (bounded in time and count) and record ``proxy``.

    ``then`` runs once, the first time ``when`` holds for the proxy, so the test can act on
    the proxy while the fault is held. Runs until cancelled or ``deadline_s``.
    """
    deadline = time.monotonic() + deadline_s
    acted = False
    for _ in range(int(deadline_s / 0.05) + 1):
        if time.monotonic() >= deadline:
            return
        state = (await http.get("/proxies")).json().get(proxy)
        observation.states.append(state)
        if state is not None and not acted and when(state):
            acted = True
            await then()
        await asyncio.sleep(0.05)  # poll interval: windows are 250 ms, a hold ≥ 1 s


async def timed_get(url: str) -> float:
    """Milliseconds for one GET on a fresh connection (status must be 200)."""
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        started = time.perf_counter()
        response = await http.get(url)
        elapsed_ms = (time.perf_counter() - started) * 1e3
    assert response.status_code == 200
    return elapsed_ms


async def connect_refused(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2.0)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def run_watched(suite: Suite, run_dir: Path, watcher: Coroutine[Any, Any, None]) -> RunRecord:
    """Run ``suite`` with ``watcher`` polling beside it; stop the watcher once the run ends
    (an error in the watcher, such as a failed request through the proxy, is raised)."""
    task = asyncio.create_task(watcher)
    try:
        return await execute_suite(suite, RunOptions(run_dir=run_dir, seed=5))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def latency_suite(api_url: str, listen: str, upstream: str) -> Suite:
    return Suite.model_validate(
        {
            "service": "via-external-proxy",
            "proxy_api": api_url,
            "traffic": {"url": f"http://{listen}", "rate_per_s": 20},
            "proxies": [{"name": "dep", "listen": listen, "upstream": upstream}],
            "defaults": {"baseline_s": 1, "fault_s": 1.5, "recovery_timeout_s": 5},
            "experiments": [
                {
                    "name": "slow-dep",
                    "fault": {"type": "latency", "proxy": "dep", "latency_ms": LATENCY_MS},
                }
            ],
        }
    )


@pytest.mark.slow
async def test_latency_is_held_on_the_external_server_then_removed_with_its_proxy(
    external: ProxyServerHandle,
    api: httpx.AsyncClient,
    flaky_service: str,
    free_port: Callable[[], int],
    tmp_path: Path,
) -> None:
    """The suite's proxy carries the engine's latency toxic while held (and traffic through
    it is slower by about that much); afterwards the proxy the engine created is gone, a
    leftover of the same name from a crashed run was replaced, and an unrelated proxy
    already on the server is untouched."""
    listen = f"127.0.0.1:{free_port()}"
    upstream = flaky_service.removeprefix("http://")
    # A crashed earlier run's "dep": same listen address, a dead upstream and a stale 5 s
    # toxic. Kept, it would break the baseline; the engine must replace it.
    stale = {"name": "dep", "listen": listen, "upstream": f"127.0.0.1:{free_port()}"}
    assert (await api.post("/proxies", json=stale)).status_code == 201
    stale_toxic = {"name": "stale", "type": "latency", "attributes": {"latency": 5000}}
    assert (await api.post("/proxies/dep/toxics", json=stale_toxic)).status_code == 200
    bystander = {"name": "other", "listen": "127.0.0.1:0", "upstream": upstream}
    assert (await api.post("/proxies", json=bystander)).status_code == 201
    bystander_toxic = {"name": "keep", "type": "bandwidth", "attributes": {"rate": 64}}
    assert (await api.post("/proxies/other/toxics", json=bystander_toxic)).status_code == 200
    other_before = (await api.get("/proxies/other")).json()

    observation = Observation()

    async def during_hold() -> None:
        observation.through_ms = await timed_get(f"http://{listen}/")

    suite = latency_suite(external.api_url, listen, upstream)
    record = await run_watched(
        suite,
        tmp_path / "run",
        watch(api, "dep", observation, when=lambda s: bool(engine_toxics(s)), then=during_hold),
    )

    (result,) = record.results
    assert result.status is not ExperimentStatus.INCONCLUSIVE, result.reason
    held = [s for s in observation.states if s is not None and engine_toxics(s)]
    assert held, f"the toxic was never seen on the external server: {observation.states}"
    for state in held:
        assert state["upstream"] == upstream  # the leftover was replaced, not reused
        assert state["listen"] == listen
        (toxic,) = state["toxics"]  # the stale toxic went with the leftover proxy
        assert toxic["type"] == "latency"
        assert toxic["name"].startswith("cwb_latency_downstream_")
        assert toxic["stream"] == "downstream"
        assert toxic["attributes"]["latency"] == LATENCY_MS

    # Traffic through the proxy was slower by about the configured delay: the test's own
    # request while the toxic was listed, and the engine's measurement of the fault phase.
    assert observation.through_ms is not None
    assert LATENCY_MS <= observation.through_ms <= LATENCY_MS + LATENCY_SLACK_MS
    baseline, fault = result.phases["baseline"], result.phases["fault"]
    assert baseline.p50_ms is not None
    assert fault.p50_ms is not None
    added_ms = fault.p50_ms - baseline.p50_ms
    assert LATENCY_MS - 10 <= added_ms <= LATENCY_MS + LATENCY_SLACK_MS, (baseline, fault)

    # After the run: the engine's proxy (and so its toxic) is gone, the bystander is as it was.
    proxies = (await api.get("/proxies")).json()
    assert "dep" not in proxies
    assert proxies["other"] == other_before
    # The revert removed the toxic (the proxy still there, clean) before the proxy went.
    last_held = max(i for i, state in enumerate(observation.states) if engine_toxics(state))
    after = observation.states[last_held + 1 :]
    assert any(state is not None and not state["toxics"] for state in after), after


@pytest.mark.slow
async def test_down_disables_then_reenables_the_proxy_on_the_external_server(
    external: ProxyServerHandle,
    api: httpx.AsyncClient,
    flaky_service: str,
    free_port: Callable[[], int],
    tmp_path: Path,
) -> None:
    """``down`` through ``proxy_api`` sets ``enabled: false`` (connections refused) for the
    hold and ``enabled: true`` again on revert, before the engine deletes its proxy."""
    listen = f"127.0.0.1:{free_port()}"
    suite = Suite.model_validate(
        {
            "service": "down-via-external-proxy",
            "proxy_api": external.api_url,
            "probe": {"kind": "tcp", "address": listen, "rate_per_s": 40},
            "proxies": [
                {"name": "dep", "listen": listen, "upstream": flaky_service.removeprefix("http://")}
            ],
            "defaults": {"baseline_s": 1, "fault_s": 1.5, "recovery_timeout_s": 5},
            "experiments": [{"name": "down", "fault": {"type": "down", "proxy": "dep"}}],
        }
    )
    observation = Observation()

    async def while_down() -> None:
        observation.refused_while_down = await connect_refused(listen)

    record = await run_watched(
        suite,
        tmp_path / "run",
        watch(api, "dep", observation, when=lambda s: not s["enabled"], then=while_down),
    )

    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert result.impact is ImpactLevel.FULL_OUTAGE
    assert observation.enabled_sequence() == [True, False, True], observation.states
    assert observation.refused_while_down is True
    assert "dep" not in (await api.get("/proxies")).json()


def unreachable_suite(api_url: str, listen: str) -> dict[str, Any]:
    return {
        "service": "no-proxy-server",
        "proxy_api": api_url,
        "probe": {"kind": "tcp", "address": listen, "rate_per_s": 10},
        "proxies": [{"name": "dep", "listen": listen, "upstream": "127.0.0.1:9"}],
        "defaults": {"baseline_s": 1, "fault_s": 1, "recovery_timeout_s": 2},
        "experiments": [{"name": "down", "fault": {"type": "down", "proxy": "dep"}}],
    }


@pytest.fixture
def refused_url(free_port: Callable[[], int]) -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that takes connections (kernel backlog) but never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_an_unreachable_proxy_api_aborts_the_run_naming_the_url(
    refused_url: str, free_port: Callable[[], int], tmp_path: Path
) -> None:
    """No server at the URL: the run is refused as a suite mistake (exit 2), naming it."""
    suite = Suite.model_validate(unreachable_suite(refused_url, f"127.0.0.1:{free_port()}"))
    with pytest.raises(RunAborted) as info:
        await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
    assert info.value.exit_code == 2
    assert refused_url in str(info.value)
    assert "proxy_api" in str(info.value)


@pytest.mark.slow
async def test_a_proxy_api_that_never_answers_aborts_within_a_bound(
    silent_url: str, free_port: Callable[[], int], tmp_path: Path
) -> None:
    """A wrong port that accepts connections but never speaks HTTP is not a hang."""
    suite = Suite.model_validate(unreachable_suite(silent_url, f"127.0.0.1:{free_port()}"))
    started = time.monotonic()
    with pytest.raises(RunAborted) as info:
        await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
    # The engine's first-contact bound (5 s) fired, not the client's 10 s request timeout
    # or nothing at all; the rest of the slack covers start-up on a loaded machine.
    assert time.monotonic() - started < 9.5
    assert info.value.exit_code == 2
    assert silent_url in str(info.value)
    assert "no answer within 5 s" in str(info.value)


def test_cwb_run_with_an_unreachable_proxy_api_exits_2_without_a_traceback(
    refused_url: str, free_port: Callable[[], int], tmp_path: Path
) -> None:
    """What a user of ``cwb run`` sees: one line naming the URL, exit code 2."""
    suite = unreachable_suite(refused_url, f"127.0.0.1:{free_port()}")
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    result = subprocess.run(
        [*CWB_RUN, str(path), "--no-history", "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert refused_url in result.stderr


async def test_a_server_gone_by_the_end_of_the_run_leaves_a_note_not_a_crash(
    refused_url: str,
) -> None:
    """Deleting the run's proxy on a server that has gone away is recorded, not raised: the
    run's results were measured already and must still be written."""
    from chaos_workbench.engine.proxies import _delete_proxy
    from chaos_workbench.proxy.client import ToxiproxyClient

    notes: list[str] = []
    client = ToxiproxyClient(refused_url)
    try:
        await _delete_proxy(client, "dep", notes)
    finally:
        await client.aclose()
    assert len(notes) == 1
    assert "'dep' could not be deleted" in notes[0]
