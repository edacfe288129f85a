"""Targets chosen at injection time (``select:``), on real supervised processes.

Three real TCP servers on ephemeral loopback ports play a cluster; the selector asks a real
command or a real HTTP server which one "leads", and the fault must act on that one only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psutil
import pytest
from aiohttp import web

from chaos_workbench.faults import FaultContext, FaultError, FaultRefused
from chaos_workbench.faults._select import ProcessSelector, name_in_answer
from chaos_workbench.faults.process_kill import ProcessKill, ProcessKillParams
from chaos_workbench.faults.process_pause import ProcessPause, ProcessPauseParams
from chaos_workbench.faults.process_restart import ProcessRestart, ProcessRestartParams
from chaos_workbench.host.spawn import port_open
from chaos_workbench.processes import Supervisor
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec
from chaos_workbench.safety.actions import StartProcess

Until = Callable[..., Awaitable[None]]
MakeCtx = Callable[..., FaultContext]


class Cluster:
    def __init__(self, sup: Supervisor, ports: dict[str, int], extra: dict[str, int]) -> None:
        self.sup = sup
        self.ports = ports  # ready.port of each member
        self.extra = extra  # a declared `ports` entry of each member

    def pids(self) -> dict[str, int | None]:
        return {name: self.sup.pid(name) for name in self.ports}


@pytest.fixture
async def cluster(
    run_dir: Path, free_port: Callable[[], int], server_command: Callable[..., tuple[str, ...]]
) -> AsyncIterator[Cluster]:
    ports = {name: free_port() for name in ("n1", "n2", "n3")}
    extra = {name: free_port() for name in ports}
    specs = [
        ProcessSpec(
            name=name,
            command=server_command(port),
            ready=ReadinessSpec(port=port, timeout_s=20),
            ports=(extra[name],),
        )
        for name, port in ports.items()
    ]
    async with Supervisor(specs, run_dir=run_dir) as sup:
        yield Cluster(sup, ports, extra)


def echo(text: str) -> tuple[str, ...]:
    """A real command whose standard output is ``text``."""
    return (sys.executable, "-c", f"import sys; sys.stdout.write({text!r})")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_command_naming_a_port_chooses_that_member_which_is_killed_then_restarted(
    cluster: Cluster, make_ctx: MakeCtx, wait_until: Until
) -> None:
    before = cluster.pids()
    answer = f"127.0.0.1\n{cluster.ports['n2']}\n"  # as valkey-cli's master address
    params = ProcessKillParams(select=ProcessSelector(command=echo(answer)))
    fault = ProcessKill(params, make_ctx(cluster.sup))
    fault.preflight()
    assert fault.revert_actions() == ()  # nothing chosen yet, so nothing to name
    await fault.prepare()
    assert fault.choice == "n2"
    # The lease is written after prepare(): it names the member really about to be killed.
    (action,) = fault.revert_actions()
    assert isinstance(action, StartProcess)
    assert action.ready_port == cluster.ports["n2"]

    await fault.apply()
    n2 = before["n2"]
    assert n2 is not None
    await wait_until(lambda: gone(n2))
    assert cluster.sup.pid("n2") is None
    assert not port_open("127.0.0.1", cluster.ports["n2"])
    assert cluster.pids()["n1"] == before["n1"]  # the others untouched
    assert cluster.pids()["n3"] == before["n3"]
    assert fault.describe().startswith("SIGKILL to n2 (chosen by `")

    await fault.revert()
    after = cluster.sup.pid("n2")
    assert after is not None
    assert after != n2
    assert port_open("127.0.0.1", cluster.ports["n2"])  # restarted and ready


async def test_a_declared_port_or_a_name_chooses_the_member(
    cluster: Cluster, make_ctx: MakeCtx
) -> None:
    # n3's declared extra port (not its ready.port) names it.
    by_port = ProcessPause(
        ProcessPauseParams(
            select=ProcessSelector(command=echo(f"leader 127.0.0.1:{cluster.extra['n3']}"))
        ),
        make_ctx(cluster.sup),
    )
    await by_port.prepare()
    assert by_port.choice == "n3"

    # By name, paused for real: n1 stops, the others keep running.
    fault = ProcessPause(
        ProcessPauseParams(
            select=ProcessSelector(command=echo("the leader is n1\n")), method="signal"
        ),
        make_ctx(cluster.sup),
    )
    await fault.apply()
    try:
        assert fault.choice == "n1"
        statuses = {n: psutil.Process(p).status() for n, p in cluster.pids().items() if p}
        assert statuses["n1"] == psutil.STATUS_STOPPED
        assert statuses["n2"] != psutil.STATUS_STOPPED
        assert statuses["n3"] != psutil.STATUS_STOPPED
        assert fault.describe().startswith("pause n1 (chosen by `")
    finally:
        await fault.revert()
    n1 = cluster.sup.pid("n1")
    assert n1 is not None
    assert psutil.Process(n1).status() != psutil.STATUS_STOPPED


@pytest.fixture
async def status_page() -> AsyncIterator[str]:
    """A real HTTP status page listing every member, and the leader after them."""

    async def status(request: web.Request) -> web.Response:
        body = {"members": ["n1", "n2", "n3"], "leader": "n3", "term": 7}
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text="n1")

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_an_http_answer_with_a_pattern_chooses_the_leader_not_the_first_member(
    cluster: Cluster, make_ctx: MakeCtx, status_page: str
) -> None:
    before = cluster.pids()
    selector = ProcessSelector(http=f"{status_page}/status", pattern=r'"leader":\s*"(\w+)"')
    fault = ProcessRestart(ProcessRestartParams(select=selector, grace_s=2), make_ctx(cluster.sup))
    fault.preflight()
    await fault.apply()
    await fault.revert()
    assert fault.choice == "n3"  # without the pattern, "n1" (listed first) would be chosen
    after = cluster.pids()
    assert after["n3"] is not None
    assert after["n3"] != before["n3"]
    assert (after["n1"], after["n2"]) == (before["n1"], before["n2"])
    assert fault.restart_ms is not None
    assert fault.describe().startswith(f"restart n3 (chosen by `GET {status_page}/status`)")


async def test_an_http_error_answer_is_a_fault_error_and_nothing_is_touched(
    cluster: Cluster, make_ctx: MakeCtx, status_page: str
) -> None:
    before = cluster.pids()
    fault = ProcessKill(
        ProcessKillParams(select=ProcessSelector(http=f"{status_page}/broken")),
        make_ctx(cluster.sup),
    )
    with pytest.raises(FaultError, match="answered HTTP 503"):
        await fault.apply()
    await fault.revert()
    assert cluster.pids() == before


async def test_an_answer_naming_no_member_fails_the_apply_and_kills_nothing(
    cluster: Cluster, make_ctx: MakeCtx
) -> None:
    before = cluster.pids()
    fault = ProcessKill(
        ProcessKillParams(select=ProcessSelector(command=echo("127.0.0.1:1 n9\n"))),
        make_ctx(cluster.sup),
    )
    with pytest.raises(FaultError, match=r"answered '127\.0\.0\.1:1 n9', which names none"):
        await fault.apply()
    assert fault.choice is None
    assert fault.revert_actions() == ()
    await fault.revert()  # harmless: nothing was applied
    assert cluster.pids() == before
    assert all(pid is not None and not gone(pid) for pid in before.values())


async def test_among_restricts_the_candidates(cluster: Cluster, make_ctx: MakeCtx) -> None:
    answer = f"{cluster.ports['n1']} n2 n3"  # n1 first, but n1 is not among the candidates
    fault = ProcessKill(
        ProcessKillParams(select=ProcessSelector(command=echo(answer), among=("n2", "n3"))),
        make_ctx(cluster.sup),
    )
    await fault.prepare()
    assert fault.choice == "n2"

    only_n1 = ProcessKill(
        ProcessKillParams(select=ProcessSelector(command=echo("n1"), among=("n2", "n3"))),
        make_ctx(cluster.sup),
    )
    with pytest.raises(FaultError, match="names none of the processes n2, n3"):
        await only_n1.prepare()


async def test_a_failing_or_slow_command_is_a_fault_error(
    cluster: Cluster, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(cluster.sup)
    failing = (sys.executable, "-c", "import sys; print('n1'); sys.exit(3)")
    with pytest.raises(FaultError, match="exited with 3"):
        await ProcessKill(ProcessKillParams(select=ProcessSelector(command=failing)), ctx).apply()
    slow = (sys.executable, "-c", "import time; time.sleep(30)")
    selector = ProcessSelector(command=slow, timeout_s=0.5)
    with pytest.raises(FaultError, match=r"no answer within 0\.5 s"):
        await ProcessKill(ProcessKillParams(select=selector), ctx).apply()
    missing = ("/nonexistent/cwb-selector",)
    with pytest.raises(FaultError, match="cannot run it"):
        await ProcessKill(ProcessKillParams(select=ProcessSelector(command=missing)), ctx).apply()
    assert all(pid is not None for pid in cluster.pids().values())


async def test_an_adopted_member_chosen_for_a_restarting_kill_is_refused(
    run_dir: Path, make_ctx: MakeCtx, cluster: Cluster
) -> None:
    pid_file = run_dir / "adopted.pid"
    n1 = cluster.sup.pid("n1")
    pid_file.write_text(str(n1))
    specs = [ProcessSpec(name="adopted", pid_file=str(pid_file))]
    async with Supervisor(specs, run_dir=run_dir / "other") as sup:
        fault = ProcessKill(
            ProcessKillParams(select=ProcessSelector(command=echo("adopted"))), make_ctx(sup)
        )
        with pytest.raises(FaultRefused, match="adopted from a pid file"):
            await fault.apply()
    assert n1 is not None
    assert not gone(n1)


def test_name_in_answer_reads_words_in_order_and_skips_shared_ports() -> None:
    candidates = {"a": (7000, 7100), "b": (7001, 7100)}
    assert name_in_answer("7100 then 7001", candidates) == "b"  # 7100 names both: skipped
    assert name_in_answer("a.example b", candidates) == "b"  # whole words only
    assert name_in_answer("x=7000", candidates, pattern=r"x=(\d+)") == "a"
    assert name_in_answer("leader: none", candidates, pattern=r"leader: (\w+)") is None
    assert name_in_answer("127.0.0.1:99999999", candidates) is None
