"""Each toxic's behaviour through a real proxy, with timing tolerances that survive load."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chaos_workbench.proxy import ProxyManager, ToxicSpec, ToxicUpdate
from chaos_workbench.proxy.testing import Upstream, open_client, roundtrip_ms

Connect = Callable[[str], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
TOLERANCE_MS = 10.0  # Toxiproxy's AssertDeltaTime tolerance
# Above a delay, a shared 2-core machine adds scheduling noise that a toxic cannot cause:
# the upper bound allows it, and still refuses a delay applied twice (both directions).
SCHEDULING_SLACK_MS = 40.0


@pytest.fixture
async def proxy(manager: ProxyManager, echo_upstream: Upstream) -> AsyncIterator[str]:
    info = await manager.create("p", "127.0.0.1:0", echo_upstream.address)
    return info.listen


async def closed_by_peer(reader: asyncio.StreamReader, timeout_s: float = 5.0) -> bool:
    """True once the connection reads EOF or is reset, within the timeout."""
    try:
        data = await asyncio.wait_for(reader.read(1 << 20), timeout_s)
    except (ConnectionError, OSError):
        return True
    return data == b""


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the proxy delivers before it closes or resets the connection."""
    got = b""
    for _ in range(100):  # bounded: each read returns bytes, EOF or a reset
        try:
            chunk = await asyncio.wait_for(reader.read(1 << 16), 5)
        except ConnectionError:
            break
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
async def test_latency_adds_delay_one_way(
    manager: ProxyManager, proxy: str, connect: Connect, stream: str
) -> None:
    reader, writer = await connect(proxy)
    base = min([await roundtrip_ms(reader, writer) for _ in range(3)])
    manager.add_toxic("p", ToxicSpec(type="latency", stream=stream, attributes={"latency": 100}))
    samples = [await roundtrip_ms(reader, writer) for _ in range(3)]
    assert all(rtt >= 100 for rtt in samples), samples
    # The best of three: one sample may be delayed by the machine, not by the toxic.
    assert min(samples) <= 100 + base + TOLERANCE_MS + SCHEDULING_SLACK_MS, samples


async def test_latency_jitter_stays_in_bounds_and_varies(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="latency", attributes={"latency": 40, "jitter": 20}))
    samples = [await roundtrip_ms(reader, writer) for _ in range(12)]
    assert all(20 <= s <= 60 + TOLERANCE_MS for s in samples), samples
    assert max(samples) - min(samples) > 5  # jitter actually varies the delay
    writer.close()


async def test_latency_does_not_serialise_chunks(manager: ProxyManager, proxy: str) -> None:
    """Ten chunks sent 10 ms apart through a 100 ms toxic arrive after ~190 ms, not ~1 s."""
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="latency", attributes={"latency": 100}))
    start = time.monotonic()
    for i in range(10):
        writer.write(bytes([i]) * 100)
        await writer.drain()
        await asyncio.sleep(0.01)
    got = await asyncio.wait_for(reader.readexactly(1000), 10)
    elapsed_ms = (time.monotonic() - start) * 1000
    assert got == b"".join(bytes([i]) * 100 for i in range(10))
    assert elapsed_ms < 400
    writer.close()


@pytest.mark.parametrize("distribution", ["normal", "pareto", "pareto_normal"])
async def test_latency_distributions(manager: ProxyManager, proxy: str, distribution: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic(
        "p",
        ToxicSpec(
            type="latency",
            attributes={"latency": 20, "jitter": 10, "distribution": distribution},
        ),
    )
    samples = [await roundtrip_ms(reader, writer) for _ in range(15)]
    assert statistics.pstdev(samples) > 1.0
    if distribution == "pareto":
        assert min(samples) >= 20  # the pareto tail only adds
    writer.close()


async def test_bandwidth_limits_rate(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="bandwidth", attributes={"rate": 100}))  # 100 KB/s
    payload = random.Random(1).randbytes(50_000)
    elapsed = await roundtrip_ms(reader, writer, payload)
    assert 500 - TOLERANCE_MS <= elapsed <= 500 + 250  # 50 kB at 100 kB/s = 500 ms
    writer.close()


async def test_slow_close_delays_fin(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    await roundtrip_ms(reader, writer)
    manager.add_toxic("p", ToxicSpec(type="slow_close", attributes={"delay": 200}))
    start = time.monotonic()
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert (time.monotonic() - start) * 1000 >= 200
    writer.close()


async def test_timeout_drops_data_then_closes(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="timeout", attributes={"timeout": 200}))
    start = time.monotonic()
    writer.write(b"lost")
    assert await closed_by_peer(reader)
    assert (time.monotonic() - start) * 1000 >= 200 - 5
    writer.close()


async def test_timeout_zero_holds_forever_until_removed(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="timeout", stream="upstream", attributes={"timeout": 0}))
    writer.write(b"lost")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.3)
    manager.remove_toxic("p", "timeout_upstream")
    # The stream lost bytes, so the connection is closed (as Toxiproxy does).
    assert await closed_by_peer(reader)
    writer.close()
    # New connections work.
    reader, writer = await open_client(proxy)
    assert await roundtrip_ms(reader, writer) < 1000
    writer.close()


async def test_reset_peer_resets_open_idle_connection(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    await roundtrip_ms(reader, writer)
    start = time.monotonic()
    manager.add_toxic("p", ToxicSpec(type="reset_peer", attributes={"timeout": 100}))
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), 5)
    assert (time.monotonic() - start) * 1000 >= 100 - 5
    writer.close()


async def test_slicer_keeps_bytes_and_slices(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic(
        "p",
        ToxicSpec(
            type="slicer", attributes={"average_size": 10, "size_variation": 5, "delay": 1000}
        ),
    )
    payload = random.Random(2).randbytes(500)
    writer.write(payload)
    reads = []
    got = b""
    while len(got) < len(payload):  # bounded: each read returns ≥ 1 byte or times out
        chunk = await asyncio.wait_for(reader.read(1 << 16), 5)
        assert chunk
        reads.append(len(chunk))
        got += chunk
    assert got == payload
    assert len(reads) > 5  # delivered in many pieces, 1 ms apart
    writer.close()


async def test_limit_data_closes_after_n_bytes(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="limit_data", attributes={"bytes": 1000}))
    writer.write(b"a" * 3000)
    got = await read_until_closed(reader)
    assert got == b"a" * 1000
    writer.close()


async def test_limit_time_closes_after_deadline(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    start = time.monotonic()
    manager.add_toxic("p", ToxicSpec(type="limit_time", attributes={"time": 200}))
    assert await roundtrip_ms(reader, writer) < 150  # works before the deadline
    assert await closed_by_peer(reader)
    assert (time.monotonic() - start) * 1000 >= 200 - 5
    writer.close()


async def test_corrupt_flips_about_p_of_bits(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="corrupt", attributes={"probability": 0.01}))
    payload = bytes(100_000)
    writer.write(payload)
    got = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    flipped = sum(bin(b).count("1") for b in got)
    assert 0.007 * 800_000 < flipped < 0.013 * 800_000
    writer.close()


async def test_noop_passes_bytes(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="noop"))
    payload = random.Random(3).randbytes(200_000)
    await roundtrip_ms(reader, writer, payload)
    writer.close()


async def test_toxicity_zero_never_affects(
    manager: ProxyManager, proxy: str, connect: Connect
) -> None:
    manager.add_toxic("p", ToxicSpec(type="latency", toxicity=0.0, attributes={"latency": 300}))
    for _ in range(20):
        reader, writer = await connect(proxy)
        assert await roundtrip_ms(reader, writer) < 150


def actions(manager: ProxyManager, toxic: str) -> int:
    """How often ``toxic`` acted on proxy ``p`` (the live metric)."""
    return sum(a.count for a in manager.stats()[0].toxic_actions if a.toxic == toxic)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` every millisecond until it holds; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


async def echoes_for(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float
) -> list[float]:
    """Round trips, 20 ms apart, for ``seconds``: the connection's life over that window."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    rtts: list[float] = []
    for _ in range(1000):  # bounded by count and time
        rtts.append(await roundtrip_ms(reader, writer))
        if loop.time() >= deadline:
            break
        await asyncio.sleep(0.02)  # pacing, not synchronisation
    return rtts


@pytest.mark.parametrize(
    ("type_", "attributes"),
    [("reset_peer", {"timeout": 50}), ("latency", {"latency": 300})],
)
async def test_toxicity_zero_leaves_open_connection_alone(
    manager: ProxyManager,
    proxy: str,
    connect: Connect,
    type_: str,
    attributes: dict[str, int],
) -> None:
    """A toxic added with toxicity 0 never touches a connection that was already open."""
    reader, writer = await connect(proxy)
    await roundtrip_ms(reader, writer)
    manager.add_toxic("p", ToxicSpec(type=type_, toxicity=0.0, attributes=attributes))
    # 400 ms covers the reset's 50 ms (dropped echoes or a reset would raise) and the
    # latency's 300 ms (every echo would take ≥ 300 ms).
    rtts = await echoes_for(reader, writer, 0.4)
    assert max(rtts) < 150, rtts
    assert actions(manager, f"{type_}_downstream") == 0


async def test_update_to_toxicity_zero_stops_latency_on_open_connection(
    manager: ProxyManager, proxy: str, connect: Connect
) -> None:
    """Toxicity 1 → 0 takes the toxic off an open connection, delivering what it held."""
    reader, writer = await connect(proxy)
    manager.add_toxic("p", ToxicSpec(type="latency", attributes={"latency": 500}))
    assert await roundtrip_ms(reader, writer) >= 500
    held_before = actions(manager, "latency_downstream")
    writer.write(b"held")
    await until(lambda: actions(manager, "latency_downstream") > held_before)
    start = time.perf_counter()  # the echo is inside the toxic now, due ~500 ms from here
    manager.update_toxic("p", "latency_downstream", ToxicUpdate(toxicity=0.0))
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"held"
    assert (time.perf_counter() - start) * 1000 < 150  # flushed, not released at 500 ms
    rtts = await echoes_for(reader, writer, 0.2)
    assert max(rtts) < 150, rtts
    assert manager.get_toxic("p", "latency_downstream").toxicity == 0.0


async def test_update_to_toxicity_zero_cancels_pending_reset(
    manager: ProxyManager, proxy: str, connect: Connect
) -> None:
    """A reset_peer counting down on an open connection is called off by toxicity 0."""
    reader, writer = await connect(proxy)
    await roundtrip_ms(reader, writer)
    manager.add_toxic("p", ToxicSpec(type="reset_peer", attributes={"timeout": 200}))
    manager.update_toxic("p", "reset_peer_downstream", ToxicUpdate(toxicity=0.0))
    # Past the 200 ms countdown, with margin for a countdown restarted by the update.
    rtts = await echoes_for(reader, writer, 0.6)
    assert max(rtts) < 150, rtts
    assert actions(manager, "reset_peer_downstream") == 0


async def test_reset_peer_toxicity_zero_never_resets(
    manager: ProxyManager, proxy: str, connect: Connect
) -> None:
    """Over 20 connections, opened before and after the toxic, none is ever reset."""
    before = [await connect(proxy) for _ in range(10)]
    manager.add_toxic("p", ToxicSpec(type="reset_peer", toxicity=0.0, attributes={"timeout": 0}))
    after = [await connect(proxy) for _ in range(10)]
    clients = before + after
    for _ in range(3):  # timeout 0: a connection it picked would be reset at once
        for reader, writer in clients:
            assert await roundtrip_ms(reader, writer) < 150
        await asyncio.sleep(0.05)  # pacing, not synchronisation
    assert actions(manager, "reset_peer_downstream") == 0
    assert manager.stats()[0].connections_open == 20


async def test_toxicity_is_per_connection(
    manager: ProxyManager, proxy: str, connect: Connect
) -> None:
    manager.add_toxic("p", ToxicSpec(type="latency", toxicity=0.5, attributes={"latency": 100}))
    slow = 0
    for _ in range(20):
        reader, writer = await connect(proxy)
        first = await roundtrip_ms(reader, writer)
        second = await roundtrip_ms(reader, writer)
        assert (first >= 100) == (second >= 100)  # the same connection, the same decision
        slow += first >= 100
        writer.close()
    assert 3 <= slow <= 17


async def test_update_applies_to_open_connection(manager: ProxyManager, proxy: str) -> None:
    reader, writer = await open_client(proxy)
    manager.add_toxic("p", ToxicSpec(type="latency", attributes={"latency": 50}))
    assert await roundtrip_ms(reader, writer) >= 50
    manager.update_toxic("p", "latency_downstream", ToxicUpdate(attributes={"latency": 150}))
    assert await roundtrip_ms(reader, writer) >= 150
    writer.close()


@pytest.mark.parametrize(
    "latency_first", [True, False], ids=["latency,slow_close", "slow_close,latency"]
)
async def test_toxics_chain_in_order(
    manager: ProxyManager, proxy: str, connect: Connect, latency_first: bool
) -> None:
    """Toxics on one stream act in the order they were added (Toxiproxy's chain).

    latency 300 ms and slow_close 300 ms do not commute: latency delays chunks, not the
    close, which only waits behind the data (Toxiproxy's ``latency.go``), and slow_close
    delays only the close. Latency first: data and FIN leave it at 300 ms, slow_close holds
    the FIN to 600 ms. Slow_close first: it holds the FIN to 300 ms, which then leaves
    latency right behind the data, at 300 ms. A toxic on the other stream, added between
    them, takes no place in this chain.
    """
    latency = ToxicSpec(type="latency", attributes={"latency": 300})
    slow_close = ToxicSpec(type="slow_close", attributes={"delay": 300})
    first, second = (latency, slow_close) if latency_first else (slow_close, latency)
    reader, writer = await connect(proxy)
    manager.add_toxic("p", first)
    manager.add_toxic("p", ToxicSpec(type="noop", stream="upstream"))
    manager.add_toxic("p", second)
    payload = random.Random(4).randbytes(5000)
    start = time.perf_counter()
    writer.write(payload)
    writer.write_eof()  # the echo upstream answers and half-closes at once
    assert await asyncio.wait_for(reader.readexactly(len(payload)), 5) == payload
    data_ms = (time.perf_counter() - start) * 1000
    assert await asyncio.wait_for(reader.read(), 5) == b""
    fin_ms = (time.perf_counter() - start) * 1000
    assert 300 <= data_ms <= 300 + 150
    expected_fin_ms = 600 if latency_first else 300
    assert expected_fin_ms <= fin_ms <= expected_fin_ms + 150, (data_ms, fin_ms)


@pytest.mark.parametrize(
    "limit_first", [True, False], ids=["limit_data,latency", "latency,limit_data"]
)
async def test_limit_data_bytes_survive_the_toxics_after_it(
    manager: ProxyManager, proxy: str, connect: Connect, limit_first: bool
) -> None:
    """The bytes limit_data lets through reach the client whatever follows it in the chain.

    As in Toxiproxy, reaching the limit ends limit_data's stream: the toxics after it
    deliver what they hold (here, after the latency), then the connection closes.
    """
    limit = ToxicSpec(type="limit_data", attributes={"bytes": 1000})
    latency = ToxicSpec(type="latency", attributes={"latency": 200})
    reader, writer = await connect(proxy)
    for spec in (limit, latency) if limit_first else (latency, limit):
        manager.add_toxic("p", spec)
    start = time.perf_counter()
    writer.write(b"a" * 3000)
    got = await read_until_closed(reader)
    elapsed_ms = (time.perf_counter() - start) * 1000
    assert got == b"a" * 1000
    assert 200 <= elapsed_ms <= 200 + 150
