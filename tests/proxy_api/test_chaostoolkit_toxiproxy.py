"""Chaos Toolkit's Toxiproxy extension (chaostoolkit-toxiproxy from PyPI), unchanged, driving
``cwb proxy serve``: its experiments' actions and probes work against our server."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chaostoxi.proxy import actions as proxy_actions
from chaostoxi.proxy import probes as proxy_probes
from chaostoxi.toxic import actions as toxic_actions
from proxy_api_helpers import ServerProcess


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def configuration(server_process: ServerProcess) -> Iterator[dict[str, Any]]:
    config: dict[str, Any] = {
        "toxiproxy_host": server_process.host,
        "toxiproxy_port": server_process.port,
    }
    proxy_actions.reset(configuration=config)
    yield config
    proxy_actions.reset(configuration=config)
    if proxy_probes.proxy_exist("orders-db", configuration=config):
        proxy_actions.delete_proxy("orders-db", configuration=config)


def rtt_ms(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = sock.recv(16)
            assert chunk, "closed early"
            got += chunk
        return (time.perf_counter() - start) * 1000


def test_a_chaos_toolkit_experiment_runs_against_cwb_proxy(
    configuration: dict[str, Any], echo_port: int
) -> None:
    assert proxy_actions.create_proxy(
        "orders-db", "127.0.0.1", echo_port, listen_host="127.0.0.1", configuration=configuration
    )
    port = int(configuration["orders-db_PORT"])  # the extension reads the ephemeral port back
    assert proxy_probes.proxy_exist("orders-db", configuration=configuration)
    assert proxy_probes.get_proxy_attribute("orders-db", "enabled", configuration) is True

    assert toxic_actions.create_latency_toxic(
        "orders-db", "slow-db", latency=80, configuration=configuration
    )
    assert abs(rtt_ms(port) - 80) <= 15
    toxic_actions.delete_toxic("orders-db", "slow-db", configuration=configuration)
    assert rtt_ms(port) < 40

    proxy_actions.disable_proxy("orders-db", configuration=configuration)
    assert proxy_probes.get_proxy_attribute("orders-db", "enabled", configuration) is False
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    proxy_actions.enable_proxy("orders-db", configuration=configuration)
    assert rtt_ms(port) < 40

    proxy_actions.delete_proxy("orders-db", configuration=configuration)
    assert not proxy_probes.proxy_exist("orders-db", configuration=configuration)
