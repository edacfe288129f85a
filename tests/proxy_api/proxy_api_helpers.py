"""Helpers shared by the proxy API tests (imported by conftest and the test modules)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos_workbench.proxy.api import ApiServer
from chaos_workbench.proxy.manager import ProxyManager

UA = {"User-Agent": "cwb-tests"}


@dataclass
class Api:
    url: str
    manager: ProxyManager
    http: httpx.AsyncClient
    server: ApiServer


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
    tmp_path: Path,
    *extra: str,
    subcommand: str | None = "serve",
    timeout_s: float = 15.0,
    launcher: tuple[str, ...] = ("-m", "chaos_workbench.proxy.cli"),
) -> ServerProcess:
    """``python -m chaos_workbench.proxy.cli serve`` on an ephemeral port (sync, for
    blocking clients such as toxiproxy-python); ``launcher`` replaces ``-m ...``."""
    port_file = tmp_path / "api.port"
    argv = [sys.executable, *launcher]
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


# -- hostile-input tests: health checks and a raw HTTP/1.1 client ----------------------------


async def assert_healthy(api: Api) -> dict[str, Any]:
    """``GET /proxies`` and ``GET /metrics`` answer 200 with valid content; the proxies."""
    response = await api.http.get("/proxies")
    assert response.status_code == 200, response.text
    proxies = json.loads(response.content.decode("utf-8"))  # strict UTF-8, valid JSON
    assert isinstance(proxies, dict)
    assert all(isinstance(p, dict) and p["name"] == name for name, p in proxies.items())
    response = await api.http.get("/metrics")
    assert response.status_code == 200, response.text
    labelled = {
        sample.labels.get("proxy")
        for family in text_string_to_metric_families(response.content.decode("utf-8"))
        for sample in family.samples
    }
    assert set(proxies) <= labelled
    return proxies


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def raw_request(
    method: bytes, target: bytes, body: bytes = b"", *, close: bool = True, extra: bytes = b""
) -> bytes:
    """A well-framed HTTP/1.1 request (Content-Length always right)."""
    head = b"%s %s HTTP/1.1\r\nHost: x\r\nUser-Agent: cwb-tests\r\n" % (method, target)
    head += b"Content-Length: %d\r\n" % len(body) + extra
    head += b"Connection: close\r\n" if close else b""
    return head + b"\r\n" + body


async def read_response(reader: asyncio.StreamReader, timeout_s: float = 5.0) -> RawResponse:
    """One response (our server always sends Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), timeout_s)
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


async def exchange(url: str, data: bytes, timeout_s: float = 5.0) -> RawResponse:
    """Send ``data`` on a new connection and read one response."""
    host, port = split(url.removeprefix("http://"))
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader, timeout_s)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
