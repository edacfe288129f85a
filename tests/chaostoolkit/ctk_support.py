"""A real loopback HTTP service for the experiments, and helpers to run them (the fixtures
are re-exported by conftest.py)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chaos_workbench.chaostoolkit import run_chaostoolkit

HERE = Path(__file__).parent
EXPERIMENTS = HERE / "experiments"


class _State:
    def __init__(self) -> None:
        self.broken = False
        self.broken_until = 0.0  # POST /fix?after_ms=N: still broken for N ms (monotonic)
        self.hits: list[Any] = []
        self.headers: list[dict[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if content_type == "application/json" else str(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        state = self.server.state
        state.headers.append(dict(self.headers))
        if self.path.startswith("/health"):
            if state.broken or time.monotonic() < state.broken_until:
                self._send(500, {"status": "broken"})
            else:
                self._send(200, {"status": "ok", "items": [{"name": "a"}, {"name": "b"}]})
        elif self.path.startswith("/text"):
            self._send(200, f"hello from the service, query={self.path}", "text/plain")
        elif self.path.startswith("/hits"):
            self._send(200, {"count": len(state.hits)})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        state.headers.append(dict(self.headers))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        if self.path == "/break":
            state.broken = True
        elif self.path == "/fix":
            state.broken = False
        elif self.path.startswith("/fix?after_ms="):
            state.broken_until = time.monotonic() + float(self.path.split("=", 1)[1]) / 1000
            state.broken = False
        elif self.path == "/hits":
            state.hits.append({"content_type": self.headers.get("Content-Type"), "body": body})
        self._send(200, {"broken": state.broken})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


@dataclass
class Service:
    url: str
    port: int
    state: _State


@pytest.fixture
def service() -> Iterator[Service]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = _State()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    port = int(server.server_address[1])
    try:
        yield Service(f"http://127.0.0.1:{port}", port, server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Result:
    code: int
    out: str
    err: str
    journal: dict[str, Any]


def run(path: Path, tmp_path: Path, env: dict[str, str], **options: Any) -> Result:
    out, err = io.StringIO(), io.StringIO()
    journal_path = tmp_path / "journal.json"
    journal_path.unlink(missing_ok=True)
    code = run_chaostoolkit(path, journal_path=journal_path, env=env, out=out, err=err, **options)
    journal = json.loads(journal_path.read_text()) if journal_path.exists() else {}
    return Result(code, out.getvalue(), err.getvalue(), journal)


def write(tmp_path: Path, name: str, experiment: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(experiment, indent=2))
    return path
