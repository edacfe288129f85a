"""``cwb_proxy`` used directly (the plugin is installed, so this session has it): real
upstreams on loopback, measured through the proxy while a fault is held and after it."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from chaos_workbench.proxy.testing import open_client, roundtrip_ms, serve
from chaos_workbench.pytest_plugin import Proxy, ProxyFactory

FAST_MS = 50  # a loopback round trip with no fault, with room for a loaded 2-core machine


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_upstream() -> Iterator[str]:
    """A real HTTP server on a free loopback port, in a thread (usable from sync tests)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get_status(proxy: Proxy) -> int:
    with httpx.Client(trust_env=False, timeout=5) as http:
        return http.get(f"http://{proxy.listen}/").status_code


async def test_latency_is_held_in_the_with_block_and_gone_after_it(
    cwb_proxy: ProxyFactory,
) -> None:
    async with serve() as upstream:
        db = cwb_proxy("db", upstream=upstream.address)
        assert db.host == "127.0.0.1"
        assert db.listen == f"127.0.0.1:{db.port}"
        assert db.port != upstream.port
        reader, writer = await open_client(db.listen)
        try:
            assert await roundtrip_ms(reader, writer) < FAST_MS
            with db.latency(200):
                assert 200 <= await roundtrip_ms(reader, writer) < 200 + 300
            assert await roundtrip_ms(reader, writer) < FAST_MS
        finally:
            writer.close()
            await writer.wait_closed()


async def test_down_refuses_connections_then_they_work_again(cwb_proxy: ProxyFactory) -> None:
    async with serve() as upstream:
        db = cwb_proxy("db", upstream=upstream.address)
        with db.down():
            assert db.state().enabled is False
            with pytest.raises(ConnectionRefusedError):
                await asyncio.wait_for(open_client(db.listen), 5)
        assert db.state().enabled is True
        reader, writer = await open_client(db.listen)
        assert await roundtrip_ms(reader, writer) < FAST_MS
        writer.close()
        await writer.wait_closed()


def test_http_error_answers_503_from_a_sync_test(
    cwb_proxy: ProxyFactory, http_upstream: str
) -> None:
    web = cwb_proxy("web", upstream=http_upstream)
    assert get_status(web) == 200
    with web.http_error(503):
        assert get_status(web) == 503
    assert get_status(web) == 200


def test_http_latency_delays_requests(cwb_proxy: ProxyFactory, http_upstream: str) -> None:
    web = cwb_proxy("web", upstream=http_upstream)
    with web.http_latency(200):
        started = time.perf_counter()
        assert get_status(web) == 200
        assert (time.perf_counter() - started) * 1000 >= 200


def raise_inside(manager: AbstractContextManager[Any], check: Callable[[Any], None]) -> None:
    """Enter ``manager``, check the fault is held, then fail as a test body would."""
    with manager as value:
        check(value)
        raise RuntimeError("boom")


def test_a_fault_is_reverted_when_the_block_raises(cwb_proxy: ProxyFactory) -> None:
    db = cwb_proxy("db", upstream="127.0.0.1:9")

    def toxic_is_held(toxic: Any) -> None:
        (held,) = db.state().toxics
        assert (held.name, held.type, held.attributes) == (toxic.name, "bandwidth", {"rate": 100})

    with pytest.raises(RuntimeError, match="boom"):
        raise_inside(db.toxic("bandwidth", rate=100), toxic_is_held)
    assert db.state().toxics == ()
    with pytest.raises(RuntimeError, match="boom"):
        raise_inside(db.down(), lambda _: None if not db.state().enabled else pytest.fail("up"))
    assert db.state().enabled is True


@pytest.mark.parametrize(
    ("call", "type_", "attributes"),
    [
        (lambda p: p.latency(100, jitter=10), "latency", {"latency": 100, "jitter": 10}),
        (lambda p: p.bandwidth(64), "bandwidth", {"rate": 64}),
        (lambda p: p.slow_close(300), "slow_close", {"delay": 300}),
        (lambda p: p.timeout(500), "timeout", {"timeout": 500}),
        (lambda p: p.reset_peer(20), "reset_peer", {"timeout": 20}),
        (lambda p: p.slicer(10, delay=5), "slicer", {"average_size": 10, "delay": 5}),
        (lambda p: p.limit_data(1000), "limit_data", {"bytes": 1000}),
        (lambda p: p.limit_time(1000), "limit_time", {"time": 1000}),
        (lambda p: p.http_abort(10), "http_abort", {"after_bytes": 10}),
        (lambda p: p.http_error(502, probability=0.5), "http_error", {"status": 502}),
        (lambda p: p.http_header(remove=["Server"]), "http_header", {"remove": ["Server"]}),
    ],
)
def test_each_convenience_method_adds_its_toxic_type(
    cwb_proxy: ProxyFactory, call: object, type_: str, attributes: dict[str, object]
) -> None:
    db = cwb_proxy("db", upstream="127.0.0.1:9")
    assert callable(call)
    with call(db):
        (held,) = db.state().toxics
        assert held.type == type_
        assert attributes.items() <= held.attributes.items()
    assert db.state().toxics == ()


def test_upstream_stream_and_toxicity_are_passed(cwb_proxy: ProxyFactory) -> None:
    db = cwb_proxy("db", upstream="127.0.0.1:9")
    with db.latency(5, stream="upstream", toxicity=0.25):
        (held,) = db.state().toxics
        assert (held.stream, held.toxicity) == ("upstream", 0.25)


def test_a_taken_listen_address_is_a_one_line_failure(cwb_proxy: ProxyFactory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(pytest.fail.Exception) as failed:
            cwb_proxy("db", upstream="127.0.0.1:9", listen=address)
    message = str(failed.value)
    assert address in message
    assert "in use" in message.lower()
    assert "\n" not in message
    assert failed.value.pytrace is False
