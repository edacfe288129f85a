"""Run our Toxiproxy-compatible API server as a child process for the length of a run.

:func:`start_proxy_server` spawns ``python -m chaos_workbench.proxy.cli serve`` in its own
session on an ephemeral port, waits until ``/version`` answers, and returns a
:class:`ProxyServerHandle` with ``api_url`` and ``aclose()`` (SIGTERM, then SIGKILL, to the
whole process group, so no listener outlives the run). Kept apart from the HTTP client in
:mod:`chaos_workbench.proxy.client`, which re-exports both names.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from chaos_workbench.aio import AsyncResource
from chaos_workbench.proxy._client_base import USER_AGENT, ProxyClientError

__all__ = ["ProxyServerHandle", "start_proxy_server"]


class ProxyServerHandle(AsyncResource):
    """Our API server running as a child process; ``aclose()`` stops it (and its listeners)."""

    def __init__(self, process: asyncio.subprocess.Process, api_url: str, workdir: Path) -> None:
        self._process = process
        self._workdir = workdir
        self.api_url = api_url

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def aclose(self, *, grace_s: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL after ``grace_s``. Idempotent."""
        if self._process.returncode is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), grace_s)
            except TimeoutError:
                _signal_group(self._process.pid, signal.SIGKILL)
                await self._process.wait()
        shutil.rmtree(self._workdir, ignore_errors=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The child leads its own session (start_new_session), so its pid is its group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def start_proxy_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: Path | None = None,
    seed: int | None = None,
    log_path: Path | None = None,
    ready_timeout_s: float = 15.0,
    python: str = sys.executable,
    workdir: Path | None = None,
    exit_with_parent: bool = False,
) -> ProxyServerHandle:
    """Start ``cwb proxy serve`` as a child in its own session; return once /version answers.

    With ``port=0`` the server binds an ephemeral port and writes it to a port file that
    this function reads, so there is no race on picking a free port. The port file lives in
    ``workdir`` (created, and removed by ``aclose``), by default a new temporary directory;
    a run passes one inside its run directory, so nothing outlives a run that is killed.
    With ``exit_with_parent`` the server also stops by itself when this process is gone
    (for owners with no watchdog to stop it: Chaos Toolkit runs, pytest sessions).
    """
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="cwb-proxy-"))
    else:
        workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "api.port"
    argv = [python, "-m", "chaos_workbench.proxy.cli", "serve", "--host", host]
    argv += ["--port", str(port), "--port-file", str(port_file)]
    if config is not None:
        argv += ["--config", str(config)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if exit_with_parent:  # the server stops if this process dies, even by kill -9
        argv += ["--exit-with-parent", str(os.getpid())]
    log_target: int | Any = asyncio.subprocess.DEVNULL
    log_file = None
    if log_path is not None:
        log_file = log_path.open("ab")
        log_target = log_file
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_target,
            stderr=log_target,
            start_new_session=True,
        )
    finally:
        if log_file is not None:
            log_file.close()  # the child holds its own descriptor
    handle = ProxyServerHandle(process, "", workdir)
    try:
        handle.api_url = await _wait_ready(process, port_file, ready_timeout_s)
    except BaseException:
        await handle.aclose()
        raise
    return handle


async def _wait_ready(
    process: asyncio.subprocess.Process, port_file: Path, timeout_s: float
) -> str:
    deadline = time.monotonic() + timeout_s
    api_url: str | None = None
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ProxyClientError(
                    f"the proxy server exited with code {process.returncode} before it was ready"
                )
            if api_url is None:
                address = _read_port_file(port_file)
                if address:
                    api_url = f"http://{address}"
            if api_url is not None:
                with contextlib.suppress(httpx.TransportError):
                    response = await http.get(
                        api_url + "/version", headers={"User-Agent": USER_AGENT}
                    )
                    if response.status_code == 200:
                        return api_url
            await asyncio.sleep(0.02)  # poll interval: startup takes ~0.5 s, 20 ms is plenty
    raise ProxyClientError(f"the proxy server did not answer /version within {timeout_s} s")


def _read_port_file(path: Path) -> str | None:
    """The ``host:port`` the server wrote once it listened, or None before that."""
    try:
        return path.read_text().strip() or None  # a few bytes: not worth a thread
    except FileNotFoundError:
        return None
