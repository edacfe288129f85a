"""Proxy faults whose proxies are chosen at injection time (``proxies`` + ``select``).

Three real supervised processes play a cluster: each listens on a "client" port (its
``ready.port``) and a "peer" port (declared in ``ports``), and each peer port sits behind
a real proxy of our proxy server. A real command answers with one member's client port,
as ``etcdctl endpoint status`` names the leader; the fault must act on that member's
proxy only, and its revert and lease must name that proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import sys
from collections.abc import AsyncIterator

import pytest
from faults_network_helpers import Rig
from pydantic import ValidationError

from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.faults import FaultError
from chaos_workbench.faults._proxies import proxies_in_front_of
from chaos_workbench.faults._select import ProcessSelector
from chaos_workbench.faults.down import Down, DownParams
from chaos_workbench.faults.latency import Latency, LatencyParams
from chaos_workbench.processes import Supervisor
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec
from chaos_workbench.safety.actions import RemoveToxic, SetProxyEnabled

MEMBERS = ("n1", "n2", "n3")
PROXIES = ("n1-peer", "n2-peer", "n3-peer")

# A member: accept on both ports and answer every connection with its name.
_SERVER = """
import asyncio, sys
async def main():
    async def hello(reader, writer):
        writer.write(sys.argv[1].encode()); await writer.drain(); writer.close()
    servers = [await asyncio.start_server(hello, "127.0.0.1", int(p)) for p in sys.argv[2:]]
    await asyncio.gather(*(s.serve_forever() for s in servers))
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Cluster:
    rig: Rig
    client_ports: dict[str, int]
    proxy_addresses: dict[str, tuple[str, int]]


@pytest.fixture
async def cluster(rig: Rig, tmp_path: object) -> AsyncIterator[Cluster]:
    client = {name: _free_port() for name in MEMBERS}
    peer = {name: _free_port() for name in MEMBERS}
    specs = [
        ProcessSpec(
            name=name,
            command=(sys.executable, "-c", _SERVER, name, str(client[name]), str(peer[name])),
            ready=ReadinessSpec(port=client[name], timeout_s=20),
            ports=(peer[name],),
        )
        for name in MEMBERS
    ]
    async with Supervisor(specs, run_dir=rig.ctx.run_dir) as supervisor:
        await supervisor.start_all()
        rig.ctx = dataclasses.replace(rig.ctx, processes=supervisor)
        addresses = {
            f"{name}-peer": await rig.proxy(f"{name}-peer", f"127.0.0.1:{peer[name]}")
            for name in MEMBERS
        }
        yield Cluster(rig, client, addresses)


def answering(text: str) -> ProcessSelector:
    """A selector whose real command prints ``text``."""
    code = f"import sys; sys.stdout.write({text!r})"
    return ProcessSelector(command=(sys.executable, "-c", code), among=MEMBERS)


async def reaches(address: tuple[str, int]) -> str | None:
    """The member's name read through a new connection to the proxy, or None."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    except OSError:
        return None
    try:
        return (await asyncio.wait_for(reader.read(100), 5)).decode() or None
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_down_acts_on_the_proxy_in_front_of_the_member_the_answer_names(
    cluster: Cluster,
) -> None:
    # As `etcdctl endpoint status` answers: the leader's line holds its client port.
    answer = f"127.0.0.1:{cluster.client_ports['n2']}, 9a1f, 3.4.23, 20 kB, true\n"
    params = DownParams(proxies=PROXIES, select=answering(answer))
    fault = Down(params, cluster.rig.ctx)
    assert fault.revert_actions() == ()  # nothing chosen yet, nothing to undo
    await fault.prepare()
    assert fault.choice == "n2-peer (in front of n2)"
    assert fault.describe() == "n2-peer down"
    assert fault.revert_actions() == (
        SetProxyEnabled(api_url=cluster.rig.client.api_url, proxy="n2-peer", enabled=True),
    )
    await fault.apply()
    assert await reaches(cluster.proxy_addresses["n2-peer"]) is None
    assert await reaches(cluster.proxy_addresses["n1-peer"]) == "n1"
    assert await reaches(cluster.proxy_addresses["n3-peer"]) == "n3"
    await fault.revert()
    assert await reaches(cluster.proxy_addresses["n2-peer"]) == "n2"


async def test_latency_is_added_on_the_chosen_proxy_only(cluster: Cluster) -> None:
    params = LatencyParams(proxies=PROXIES, select=answering("n3"), latency_ms=100)
    fault = Latency(params, cluster.rig.ctx)
    await fault.apply()  # apply chooses too, for a caller that did not prepare
    assert fault.choice == "n3-peer (in front of n3)"
    toxics = {n: (await cluster.rig.client.proxy(n)).toxics for n in PROXIES}
    assert [t.type for t in toxics["n3-peer"]] == ["latency"]
    assert toxics["n1-peer"] == toxics["n2-peer"] == ()
    assert all(isinstance(a, RemoveToxic) and a.proxy == "n3-peer" for a in fault.revert_actions())
    await fault.revert()
    assert (await cluster.rig.client.proxy("n3-peer")).toxics == ()


async def test_a_member_with_no_candidate_proxy_in_front_is_an_error_and_nothing_changes(
    cluster: Cluster,
) -> None:
    params = DownParams(proxies=("n1-peer", "n3-peer"), select=answering("n2"))
    fault = Down(params, cluster.rig.ctx)
    with pytest.raises(FaultError, match=r"is n2, and none of the proxies n1-peer, n3-peer"):
        await fault.apply()
    for name in PROXIES:
        assert (await cluster.rig.client.proxy(name)).enabled is True


def test_select_needs_the_candidate_proxies() -> None:
    with pytest.raises(ValidationError, match="'select' chooses among 'proxies'"):
        DownParams(proxy="n1-peer", select=answering("n1"))
    refs = DownParams(proxies=PROXIES, select=answering("n1")).references()
    assert [(r.kind, r.field) for r in refs][-3:] == [
        ("process", "select.among.0"),
        ("process", "select.among.1"),
        ("process", "select.among.2"),
    ]


def test_proxies_in_front_of_matches_upstream_ports_only() -> None:
    upstreams = {"a": "127.0.0.1:2380", "b": "[::1]:2381", "c": "127.0.0.1:2379"}
    assert proxies_in_front_of((2379, 2381), upstreams) == ("b", "c")
    assert proxies_in_front_of((2390,), upstreams) == ()


def test_suite_validation_points_at_the_line_of_a_bad_proxy_select() -> None:
    text = (
        "service: s\n"
        "probe: {kind: tcp, address: '127.0.0.1:1'}\n"
        "proxies: [{name: a, listen: '127.0.0.1:2', upstream: '127.0.0.1:3'}]\n"
        "processes: [{name: p, command: [sleep, '1']}]\n"
        "experiments:\n"
        "  - name: e\n"
        "    fault:\n"
        "      type: down\n"
        "      proxies: [a]\n"
        "      select: {command: [echo, p], among: [p, ghost]}\n"
    )
    with pytest.raises(SuiteError) as caught:
        parse_suite(text)
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (10, "process 'ghost' is not defined (defined: p)")
    ]
