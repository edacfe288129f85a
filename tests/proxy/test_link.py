"""The data path: byte integrity, toxics on live connections, closes, resets, abuse."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from chaos_workbench.proxy import ProxyManager, ToxicSpec
from chaos_workbench.proxy.testing import Upstream, open_client, roundtrip_ms, serve

MiB = 1024 * 1024


async def _sha_sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Hash everything until EOF, answer with the hex digest and the byte count."""
    digest = hashlib.sha256()
    total = 0
    while data := await reader.read(1 << 20):  # bounded: ends at EOF
        digest.update(data)
        total += len(data)
    writer.write(f"{digest.hexdigest()} {total}\n".encode())
    await writer.drain()


def _source(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def _send_and_digest(address: str, payload: bytes) -> str:
    reader, writer = await open_client(address)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    line = await asyncio.wait_for(reader.readline(), 60)
    writer.close()
    await writer.wait_closed()
    return line.decode()


@pytest.fixture
async def sink() -> AsyncIterator[Upstream]:
    async with serve(_sha_sink) as upstream:
        yield upstream


@pytest.mark.parametrize(
    "toxic",
    [
        None,
        ToxicSpec(type="latency", stream="upstream", attributes={"latency": 5, "jitter": 3}),
        ToxicSpec(type="bandwidth", stream="upstream", attributes={"rate": 400_000}),
        ToxicSpec(
            type="slicer",
            stream="upstream",
            attributes={"average_size": 4096, "size_variation": 1000},
        ),
    ],
    ids=["none", "latency", "bandwidth", "slicer"],
)
async def test_upstream_integrity(
    manager: ProxyManager, sink: Upstream, toxic: ToxicSpec | None
) -> None:
    info = await manager.create("p", "127.0.0.1:0", sink.address)
    if toxic is not None:
        manager.add_toxic("p", toxic)
    size = 64 * MiB if toxic is None else 16 * MiB
    payload = _source(size, 1)
    expected = f"{hashlib.sha256(payload).hexdigest()} {size}\n"
    assert await _send_and_digest(info.listen, payload) == expected


@pytest.mark.parametrize(
    "toxic",
    [None, ToxicSpec(type="latency", attributes={"latency": 5})],
    ids=["none", "latency"],
)
async def test_downstream_integrity(manager: ProxyManager, toxic: ToxicSpec | None) -> None:
    size = 64 * MiB if toxic is None else 16 * MiB
    payload = _source(size, 2)

    async def blast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        await reader.read()

    async with serve(blast) as upstream:
        info = await manager.create("p", "127.0.0.1:0", upstream.address)
        if toxic is not None:
            manager.add_toxic("p", toxic)
        reader, writer = await open_client(info.listen)
        digest = hashlib.sha256()
        total = 0
        while data := await asyncio.wait_for(reader.read(1 << 20), 30):  # bounded by EOF
            digest.update(data)
            total += len(data)
        writer.close()
        await writer.wait_closed()
    assert total == size
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()


async def test_toxic_add_remove_cycles_under_load(manager: ProxyManager, sink: Upstream) -> None:
    """Toxics come and go on a live, busy connection; not a byte is lost or reordered."""
    info = await manager.create("p", "127.0.0.1:0", sink.address)
    payload = _source(32 * MiB, 3)
    specs = [
        ToxicSpec(type="latency", stream="upstream", attributes={"latency": 2}),
        ToxicSpec(type="slicer", stream="upstream", attributes={"average_size": 30_000}),
        ToxicSpec(type="bandwidth", stream="upstream", attributes={"rate": 500_000}),
        ToxicSpec(type="noop", stream="upstream"),
        ToxicSpec(type="latency", name="down", attributes={"latency": 1}),
    ]
    rng = random.Random(5)
    reader, writer = await open_client(info.listen)
    piece = 256 * 1024
    cycles = 0
    for offset in range(0, len(payload), piece):
        writer.write(payload[offset : offset + piece])
        for _ in range(3):  # three changes between two writes: always under load
            spec = rng.choice(specs)
            name = spec.name or f"{spec.type}_{spec.stream}"
            if any(t.name == name for t in manager.toxics("p")):
                manager.remove_toxic("p", name)
            else:
                manager.add_toxic("p", spec)
            cycles += 1
        await writer.drain()
        await asyncio.sleep(0)
    writer.write_eof()
    line = await asyncio.wait_for(reader.readline(), 60)
    writer.close()
    await writer.wait_closed()
    assert line.decode() == f"{hashlib.sha256(payload).hexdigest()} {len(payload)}\n"
    assert cycles == 384


def _actions(manager: ProxyManager) -> dict[str, int]:
    return {a.toxic: a.count for a in manager.stats()[0].toxic_actions}


async def test_toxic_add_remove_cycles_under_downstream_load(manager: ProxyManager) -> None:
    """The downstream twin: toxics come and go on the server → client stream while the
    upstream sends 64 MiB; not a byte is lost or reordered, and the EOF still arrives."""
    piece = 64 * 1024
    payload = _source(64 * MiB, 8)
    specs = [
        ToxicSpec(type="latency", attributes={"latency": 2, "jitter": 1}),
        ToxicSpec(type="slicer", attributes={"average_size": 30_000, "size_variation": 10_000}),
        ToxicSpec(type="bandwidth", attributes={"rate": 1_000_000}),  # 1 GB/s: rarely binds
        ToxicSpec(type="noop"),
    ]

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One piece per event-loop turn, so the proxy reads all along the transfer and the
        # toxic changes below (one per turn too) land between pieces, not between bursts.
        for offset in range(0, len(payload), piece):
            writer.write(payload[offset : offset + piece])
            await writer.drain()
            await asyncio.sleep(0)
        writer.write_eof()
        await reader.read()

    async with serve(trickle) as upstream:
        info = await manager.create("p", "127.0.0.1:0", upstream.address)
        reader, writer = await open_client(info.listen)

        async def receive() -> tuple[str, int]:
            digest = hashlib.sha256()
            total = 0
            while data := await asyncio.wait_for(reader.read(1 << 20), 30):  # ends at EOF
                digest.update(data)
                total += len(data)
            return digest.hexdigest(), total

        received = asyncio.create_task(receive())
        rng = random.Random(9)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        pairs = pairs_that_acted = 0
        added_at: dict[str, int] = {}  # toxic name → its action count when added
        # Toggling one random toxic at a time leaves any mix of them on the chain, added in
        # any order, and empties it now and then (back to the fast path). Bounded in count
        # and time; stops when the client has read the EOF.
        for _ in range(1_000_000):
            if received.done() or loop.time() > deadline:
                break
            spec = rng.choice(specs)
            name = f"{spec.type}_downstream"
            acted = _actions(manager).get(name, 0)
            if name in added_at:
                manager.remove_toxic("p", name)
                pairs += 1
                pairs_that_acted += acted > added_at.pop(name)  # it handled bytes meanwhile
            else:
                manager.add_toxic("p", spec)
                added_at[name] = acted
            await asyncio.sleep(0)
        digest, total = await asyncio.wait_for(received, 60)
        writer.close()
        await writer.wait_closed()
    assert total == len(payload)
    assert digest == hashlib.sha256(payload).hexdigest()
    # The upstream needs ≥ 1,024 turns for its pieces and each turn makes one change: about
    # 510 pairs, all before the client saw the EOF; measured: 270–330 of them acted on bytes.
    assert pairs >= 400, pairs
    assert pairs_that_acted >= 100, pairs_that_acted


async def test_half_close_client_still_gets_whole_response(manager: ProxyManager) -> None:
    response = _source(4 * MiB, 6)

    async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()  # until the client's EOF
        assert request == b"request"
        writer.write(response)
        await writer.drain()

    async with serve(answer_after_eof) as upstream:
        info = await manager.create("p", "127.0.0.1:0", upstream.address)
        manager.add_toxic("p", ToxicSpec(type="latency", attributes={"latency": 20}))
        reader, writer = await open_client(info.listen)
        writer.write(b"request")
        writer.write_eof()
        got = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        await writer.wait_closed()
    assert got == response


async def test_upstream_reset_reaches_client(manager: ProxyManager) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with serve(reset) as upstream:
        info = await manager.create("p", "127.0.0.1:0", upstream.address)
        reader, writer = await open_client(info.listen)
        writer.write(b"hello")
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()


async def test_upstream_not_listening_closes_client(manager: ProxyManager) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    info = await manager.create("p", "127.0.0.1:0", dead)
    reader, writer = await open_client(info.listen)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_upstream_vanishes_mid_stream_never_hangs(manager: ProxyManager) -> None:
    async with serve() as upstream:
        info = await manager.create("p", "127.0.0.1:0", upstream.address)
        manager.add_toxic("p", ToxicSpec(type="latency", attributes={"latency": 10}))
        reader, writer = await open_client(info.listen)
        await roundtrip_ms(reader, writer)
        for w in upstream.connections:
            w.transport.abort()
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            data = b""
        assert data == b""
        writer.close()


async def test_survives_garbage_stalls_and_connect_drop_cycles(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("p", "127.0.0.1:0", echo_upstream.address)
    host, port = info.listen.rsplit(":", 1)
    stalled = [await open_client(info.listen) for _ in range(20)]  # connect, never send
    loop = asyncio.get_running_loop()
    for i in range(2000):
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, int(port)))
        if i % 3 == 0:
            await loop.sock_sendall(sock, os.urandom(64))  # garbage
        if i % 2 == 0:  # half of them reset instead of closing
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    reader, writer = await open_client(info.listen)
    assert await roundtrip_ms(reader, writer, os.urandom(1000)) < 1000
    writer.close()
    for _, w in stalled:
        w.close()
    deadline = loop.time() + 10
    while manager.stats()[0].connections_open and loop.time() < deadline:
        await asyncio.sleep(0.05)
    stats = manager.stats()[0]
    assert stats.connections_open == 0
    assert stats.connections_total >= 2021


async def test_remove_toxic_under_load_is_immediate(manager: ProxyManager, sink: Upstream) -> None:
    """Removing a toxic that holds a lot of data returns at once (it flushes, never waits)."""
    info = await manager.create("p", "127.0.0.1:0", sink.address)
    manager.add_toxic(
        "p", ToxicSpec(type="latency", stream="upstream", attributes={"latency": 5000})
    )
    payload = _source(8 * MiB, 7)
    send = asyncio.create_task(_send_and_digest(info.listen, payload))
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    manager.remove_toxic("p", "latency_upstream")
    assert loop.time() - start < 0.5
    result = await asyncio.wait_for(send, 10)
    assert result == f"{hashlib.sha256(payload).hexdigest()} {len(payload)}\n"
