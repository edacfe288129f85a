"""``cwb proxy serve --seed`` is honoured: the same seed gives the same random choices."""

from __future__ import annotations

import threading
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


def error_pattern(tmp_path: Path, seed: int, upstream: str) -> str:
    tmp_path.mkdir()
    server = spawn_server(tmp_path, "--seed", str(seed))
    try:
        with httpx.Client(base_url=server.url, headers=UA, trust_env=False) as api:
            proxy = api.post("/proxies", json={"name": "web", "upstream": upstream}).json()
            api.post(
                "/proxies/web/toxics",
                json={
                    "type": "http_error",
                    "stream": "upstream",
                    "attributes": {"probability": 0.5},
                },
            ).raise_for_status()
        with httpx.Client(base_url=f"http://{proxy['listen']}", trust_env=False) as http:
            return "".join("E" if http.get("/").status_code == 503 else "." for _ in range(40))
    finally:
        stop_server(server.process)


@pytest.mark.slow
def test_same_seed_same_choices(tmp_path: Path, http_address: str) -> None:
    first = error_pattern(tmp_path / "a", 1234, http_address)
    again = error_pattern(tmp_path / "b", 1234, http_address)
    other = error_pattern(tmp_path / "c", 99, http_address)
    assert "E" in first
    assert "." in first
    assert first == again
    assert first != other  # 2**-40 odds of a false failure
