"""Helpers shared by the proxy API tests (imported by conftest and the test modules)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaos_workbench.proxy.manager import ProxyManager

UA = {"User-Agent": "cwb-tests"}


@dataclass
class Api:
    url: str
    manager: ProxyManager
    http: httpx.AsyncClient


@dataclass
class Echo:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass
class ServerProcess:
    url: str
    host: str
    port: int
    process: subprocess.Popen[bytes]


def spawn_server(
    tmp_path: Path, *extra: str, subcommand: str | None = "serve", timeout_s: float = 15.0
) -> ServerProcess:
    """``python -m chaos_workbench.proxy.cli serve`` on an ephemeral port (sync, for
    blocking clients such as toxiproxy-python)."""
    port_file = tmp_path / "api.port"
    argv = [sys.executable, "-m", "chaos_workbench.proxy.cli"]
    argv += [subcommand] if subcommand else []
    argv += ["--port", "0"]
    argv += ["--port-file", str(port_file), *extra]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"server exited with {process.returncode}: {stderr}")
        if port_file.exists() and port_file.read_text().strip():
            host, port = split(port_file.read_text().strip())
            url = f"http://{host}:{port}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/version", headers=UA, trust_env=False).status_code == 200:
                    return ServerProcess(url, host, port, process)
        time.sleep(0.02)
    stop_server(process)
    raise AssertionError("server did not answer /version in time")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if process.stderr is not None:
        process.stderr.close()
