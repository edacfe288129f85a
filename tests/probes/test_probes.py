"""Protocol probes against real PostgreSQL, Valkey and NATS servers on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import nats
import pytest
from probe_helpers import SPEC, collect, errors_of
from pydantic import ValidationError

from chaos_workbench.traffic.window import ErrorKind

if TYPE_CHECKING:
    from conftest import Server

pytestmark = pytest.mark.demo  # real PostgreSQL, Valkey and NATS from the demo extra


async def test_postgres_select_1(postgres_server: Server) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres"
    windows = await collect({"kind": "postgres", "dsn": dsn, "rate_per_s": 40})
    assert sum(w.requests for w in windows) == 40
    assert sum(w.successes for w in windows) == 40
    assert len(windows) == 4


async def test_postgres_bad_query_is_an_error_per_call(postgres_server: Server) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres"
    windows = await collect(
        {"kind": "postgres", "dsn": dsn, "query": "SELECT * FROM no_such_table", "rate_per_s": 20},
        duration_s=0.5,
    )
    assert errors_of(windows) == {ErrorKind.OTHER: 10}


async def test_postgres_slow_query_times_out(postgres_server: Server) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres"
    windows = await collect(
        {
            "kind": "postgres",
            "dsn": dsn,
            "query": "SELECT pg_sleep(1)",
            "rate_per_s": 10,
            "timeout_ms": 200,
        },
        duration_s=0.5,
    )
    assert errors_of(windows) == {ErrorKind.READ_TIMEOUT: 5}
    for w in windows:
        if w.requests:
            assert (w.percentile_ms(50) or 0) >= 190  # latency to the deadline, not less


async def test_valkey_ping_and_command(valkey_server: Server) -> None:
    url = f"valkey://127.0.0.1:{valkey_server.port}/0"
    ping = await collect({"kind": "valkey", "url": url, "rate_per_s": 50})
    assert sum(w.successes for w in ping) == 50
    incr = await collect(
        {
            "kind": "redis",
            "url": url.replace("valkey", "redis"),
            "command": ["INCR", "cwb"],
            "rate_per_s": 20,
        },
        duration_s=0.5,
    )
    assert sum(w.successes for w in incr) == 10


async def test_valkey_unknown_command_is_an_error(valkey_server: Server) -> None:
    url = f"valkey://127.0.0.1:{valkey_server.port}/0"
    windows = await collect(
        {"kind": "valkey", "url": url, "command": ["NOSUCHCOMMAND"], "rate_per_s": 20},
        duration_s=0.5,
    )
    assert errors_of(windows) == {ErrorKind.OTHER: 10}


async def test_nats_publish_and_request(nats_server: Server) -> None:
    servers = f"nats://127.0.0.1:{nats_server.port}"
    published = await collect({"kind": "nats", "servers": servers, "rate_per_s": 50})
    assert sum(w.successes for w in published) == 50

    responder = await nats.connect(servers)
    try:

        async def reply(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(b"pong")

        await responder.subscribe("cwb.echo", cb=reply)
        await responder.flush()
        answered = await collect(
            {
                "kind": "nats",
                "servers": servers,
                "subject": "cwb.echo",
                "mode": "request",
                "rate_per_s": 40,
            },
            duration_s=0.5,
        )
        assert sum(w.successes for w in answered) == 20
    finally:
        await responder.close()


async def test_nats_request_without_responder_fails(nats_server: Server) -> None:
    servers = f"nats://127.0.0.1:{nats_server.port}"
    windows = await collect(
        {
            "kind": "nats",
            "servers": servers,
            "subject": "cwb.nobody",
            "mode": "request",
            "rate_per_s": 20,
            "timeout_ms": 300,
        },
        duration_s=0.5,
    )
    assert sum(w.requests for w in windows) == 10
    assert sum(w.successes for w in windows) == 0


@pytest.mark.parametrize("kind", ["postgres", "valkey", "nats", "tcp"])
async def test_probe_of_a_closed_port_counts_refusals(kind: str, unused_port: int) -> None:
    target = {
        "postgres": {"dsn": f"postgresql://postgres@127.0.0.1:{unused_port}/postgres"},
        "valkey": {"url": f"valkey://127.0.0.1:{unused_port}/0"},
        "nats": {"servers": f"nats://127.0.0.1:{unused_port}"},
        "tcp": {"address": f"127.0.0.1:{unused_port}"},
    }[kind]
    windows = await collect({"kind": kind, "rate_per_s": 20, **target}, duration_s=0.5)
    assert sum(w.requests for w in windows) == 10
    assert sum(w.successes for w in windows) == 0
    assert set(errors_of(windows)) == {ErrorKind.CONNECT_REFUSED}


async def test_tcp_probe_connects(valkey_server: Server) -> None:
    windows = await collect(
        {"kind": "tcp", "address": f"127.0.0.1:{valkey_server.port}", "rate_per_s": 40},
        duration_s=0.5,
    )
    assert sum(w.successes for w in windows) == 20


def test_probe_specs_are_validated() -> None:
    with pytest.raises(ValidationError, match="kind"):
        SPEC.validate_python({"kind": "mongodb"})
    with pytest.raises(ValidationError, match="host:port"):
        SPEC.validate_python({"kind": "tcp", "address": "nope"})
    with pytest.raises(ValidationError):
        SPEC.validate_python({"kind": "postgres", "dsn": "mysql://x"})


async def test_valkey_restart_mid_run_is_errors_then_recovery(
    valkey_binary: Path, unused_port: int
) -> None:
    """Kill the server 0.5 s into the run, start it again at 1.0 s: errors, then healthy."""
    argv = [str(valkey_binary), "--port", str(unused_port), "--bind", "127.0.0.1", "--save", ""]

    async def start() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", unused_port)
                writer.close()
                await writer.wait_closed()
                return proc
            except OSError:
                await asyncio.sleep(0.02)
        proc.kill()
        await proc.wait()
        raise RuntimeError("valkey did not start")

    procs = [await start()]
    loop = asyncio.get_running_loop()

    async def restart() -> None:
        procs[0].kill()
        await procs[0].wait()
        await asyncio.sleep(0.5)  # the outage: part of the scenario, not synchronisation
        procs.append(await start())

    try:
        loop.call_later(0.5, lambda: asyncio.ensure_future(restart()))
        windows = await collect(
            {
                "kind": "valkey",
                "url": f"valkey://127.0.0.1:{unused_port}/0",
                "rate_per_s": 100,
                "timeout_ms": 200,
            },
            duration_s=2.5,
        )
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
    assert len(procs) == 2
    assert windows[0].successes == windows[0].requests == 25
    outage = [w for w in windows if w.successes < w.requests]
    assert outage
    assert set(errors_of(outage)) <= {
        ErrorKind.CONNECT_REFUSED,
        ErrorKind.RESET,
        ErrorKind.READ_TIMEOUT,
    }
    assert windows[-1].successes == windows[-1].requests == 25  # recovered
