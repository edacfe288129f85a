"""``cwb load``: bad input exits 2 with one clear line; a run prints its summary; Ctrl-C too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from chaos_workbench.traffic.cli import app

runner = CliRunner()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    hits = 0  # requests served, for tests that wait for progress

    def do_GET(self) -> None:
        type(self).hits += 1
        status = 503 if self.path == "/503" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def threaded_server() -> Iterator[str]:
    """A server in its own thread: the command runs its own event loop."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:8080/", "--rate", "0"], "--rate must be greater than 0"),
        (["http://127.0.0.1:8080/", "--rate", "-5"], "--rate must be greater than 0"),
        (["ftp://127.0.0.1/"], "not an http:// or https:// URL"),
        (["http://"], "not an http:// or https:// URL"),
        (["http://127.0.0.1:99999/"], "port"),
        (["http://127.0.0.1:8080/", "-H", "no-colon"], "--header must look like"),
        (["http://127.0.0.1:8080/", "--method", "BREW"], "--method must be one of"),
        (["http://127.0.0.1:8080/", "--duration", "0"], "--duration must be greater than 0"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreachable_target_exits_2(unused_port: int) -> None:
    result = runner.invoke(app, [f"http://127.0.0.1:{unused_port}/", "--duration", "1"])
    assert result.exit_code == 2
    assert f"cannot reach 127.0.0.1:{unused_port}" in result.output


def test_json_summary_of_a_run(threaded_server: str) -> None:
    result = runner.invoke(
        app, [threaded_server + "/ok", "--rate", "100", "--duration", "1", "--json", "-H", "X-A: b"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["requests"] == 100
    assert summary["successes"] == 100
    assert summary["target_rate_per_s"] == 100
    assert summary["achieved_rate_per_s"] == pytest.approx(100, rel=0.02)
    assert summary["latency_ms"]["p50"] > 0
    assert summary["interrupted"] is False


def test_table_summary_counts_errors(threaded_server: str) -> None:
    result = runner.invoke(app, [threaded_server + "/503", "--rate", "50", "--duration", "0.5"])
    assert result.exit_code == 0, result.output
    assert "http_5xx" in result.output
    assert "25" in result.output


def test_ctrl_c_prints_the_summary_so_far(threaded_server: str) -> None:
    code = "from chaos_workbench.traffic.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, threaded_server + "/ok", "--rate", "50", "-d", "60", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 20
        start = _Handler.hits
        while _Handler.hits - start < 40 and time.monotonic() < deadline:  # let it run a while
            time.sleep(0.05)
        assert _Handler.hits - start >= 40
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert 40 <= summary["requests"] <= 200
    assert summary["successes"] == summary["requests"]
    assert summary["duration_s"] < 10
