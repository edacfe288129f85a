"""``cwb proxy serve --seed`` is honoured: the same seed gives the same random choices."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from proxy_api_helpers import UA, spawn_server, stop_server


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # One write: headers and body in separate segments would meet Nagle + delayed ACK.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_address() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def seeded_proxy(
    tmp_path: Path, seed: int, upstream: str, toxic: dict[str, object]
) -> Iterator[str]:
    """A ``cwb proxy serve --seed`` process with one proxy carrying ``toxic``; yields its
    listen address."""
    tmp_path.mkdir()
    server = spawn_server(tmp_path, "--seed", str(seed))
    try:
        with httpx.Client(base_url=server.url, headers=UA, trust_env=False) as api:
            proxy = api.post("/proxies", json={"name": "web", "upstream": upstream}).json()
            api.post("/proxies/web/toxics", json=toxic).raise_for_status()
        yield str(proxy["listen"])
    finally:
        stop_server(server.process)


def error_pattern(tmp_path: Path, seed: int, upstream: str) -> str:
    """Which of 40 requests an ``http_error`` of probability 0.5 answers ("E")."""
    toxic = {"type": "http_error", "stream": "upstream", "attributes": {"probability": 0.5}}
    with (
        seeded_proxy(tmp_path, seed, upstream, toxic) as listen,
        httpx.Client(base_url=f"http://{listen}", trust_env=False) as http,
    ):
        return "".join("E" if http.get("/").status_code == 503 else "." for _ in range(40))


@pytest.mark.slow
def test_same_seed_same_choices(tmp_path: Path, http_address: str) -> None:
    first = error_pattern(tmp_path / "a", 1234, http_address)
    again = error_pattern(tmp_path / "b", 1234, http_address)
    other = error_pattern(tmp_path / "c", 99, http_address)
    assert "E" in first
    assert "." in first
    assert first == again
    assert first != other  # 2**-40 odds of a false failure


def toxicity_pattern(tmp_path: Path, seed: int, upstream: str) -> str:
    """Which of 20 new connections a ``toxicity: 0.5`` latency toxic picks ("L") or spares."""
    toxic = {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 150}}
    pattern = ""
    with seeded_proxy(tmp_path, seed, upstream, toxic) as listen:
        host, port = listen.rsplit(":", 1)
        for _ in range(20):  # one at a time: the draws happen in connection order
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                started = time.monotonic()
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(1024).startswith(b"HTTP/1.1 200")
                # 150 ms picked vs a few ms spared: 100 ms apart either way.
                pattern += "L" if time.monotonic() - started > 0.075 else "."
    return pattern


@pytest.mark.slow
def test_same_seed_picks_the_same_connections(tmp_path: Path, http_address: str) -> None:
    """Per-connection ``toxicity`` draws come from the seeded generator too."""
    first = toxicity_pattern(tmp_path / "a", 1234, http_address)
    again = toxicity_pattern(tmp_path / "b", 1234, http_address)
    other = toxicity_pattern(tmp_path / "c", 99, http_address)
    assert "L" in first
    assert "." in first
    assert first == again
    assert first != other  # 2**-20 odds of a false failure
