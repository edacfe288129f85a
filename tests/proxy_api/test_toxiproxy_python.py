"""The toxiproxy-python client from PyPI, unchanged, against ``cwb proxy serve`` (a child
process), with a real echo upstream."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from proxy_api_helpers import ServerProcess, split
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_address() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def toxiproxy(server_process: ServerProcess) -> Iterator[Toxiproxy]:
    server = Toxiproxy()
    server.update_api_consumer(server_process.host, server_process.port)
    server.reset()
    server.destroy_all()
    yield server
    server.destroy_all()


def rtt_ms(listen: str, payload: bytes = b"ping") -> float:
    with socket.create_connection(split(listen), timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(100)
            assert chunk, "connection closed early"
            got += chunk
        assert got == payload
        return (time.perf_counter() - start) * 1000


def test_version_and_running(toxiproxy: Toxiproxy) -> None:
    assert toxiproxy.running() is True
    assert b'"version": "2.12.0"' in toxiproxy.version()


def test_create_list_get_destroy(toxiproxy: Toxiproxy, echo_address: str) -> None:
    proxy = toxiproxy.create(upstream=echo_address, name="redis")
    assert proxy.name == "redis"
    assert proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:")
    assert not proxy.listen.endswith(":0")  # port 0 is resolved and reported back
    assert rtt_ms(proxy.listen) < 100
    assert set(toxiproxy.proxies()) == {"redis"}
    assert toxiproxy.get_proxy("redis").upstream == echo_address
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=echo_address, name="redis")
    assert toxiproxy.destroy(proxy) is True
    assert toxiproxy.get_proxy("redis") is None
    with pytest.raises(NotFound):
        proxy.destroy()


def test_latency_toxic_round_trip(toxiproxy: Toxiproxy, echo_address: str) -> None:
    proxy = toxiproxy.create(upstream=echo_address, name="db")
    proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 0})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    toxic = toxics["latency_downstream"]
    assert (toxic.type, toxic.stream, toxic.toxicity) == ("latency", "downstream", 1)
    assert toxic.attributes["latency"] == 100
    assert abs(rtt_ms(proxy.listen) - 100) <= 15
    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.toxics() == {}
    assert rtt_ms(proxy.listen) < 50
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")


def test_invalid_toxics_raise_invalid_toxic(toxiproxy: Toxiproxy, echo_address: str) -> None:
    proxy = toxiproxy.create(upstream=echo_address, name="db")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", attributes={"latency": "slow"})
    assert proxy.toxics() == {}


def test_disable_enable_and_down_context(toxiproxy: Toxiproxy, echo_address: str) -> None:
    proxy = toxiproxy.create(upstream=echo_address, name="db")
    with proxy.down():
        assert toxiproxy.get_proxy("db").enabled is False
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(split(proxy.listen), timeout=2).close()
    assert toxiproxy.get_proxy("db").enabled is True
    assert rtt_ms(proxy.listen) < 100


def test_reset_and_populate(toxiproxy: Toxiproxy, echo_address: str) -> None:
    created = toxiproxy.populate(
        [
            {"name": "a", "upstream": echo_address, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": echo_address, "listen": "127.0.0.1:0"},
        ]
    )
    assert sorted(p.name for p in created) == ["a", "b"]
    a = toxiproxy.get_proxy("a")
    a.add_toxic(type="latency", attributes={"latency": 1000})
    a.disable()
    assert toxiproxy.reset() is True
    a = toxiproxy.get_proxy("a")
    assert a.enabled is True
    assert a.toxics() == {}
    assert rtt_ms(a.listen) < 100


def test_server_refuses_browsers(server_process: ServerProcess) -> None:
    response = requests.get(
        server_process.url + "/proxies", headers={"User-Agent": "Mozilla/5.0"}, timeout=5
    )
    assert (response.status_code, response.text) == (403, "User agent not allowed\n")
