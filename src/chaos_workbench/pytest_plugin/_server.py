"""The session's fault proxy server and a synchronous client for its API.

The server is ``cwb proxy serve`` run as a child process in its own session (like
:func:`chaos_workbench.proxy.client.start_proxy_server`, but started and stopped without an
event loop), so it shares no loop with the tests: a sync test, an async test and a service
the test runs in its own loop all reach it alike. :class:`SyncApi` speaks its Toxiproxy
REST API with a blocking ``httpx.Client``; a call to the loopback API takes milliseconds,
so calling it from inside an async test blocks that test's loop only that long.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from chaos_workbench.proxy.client import ProxyApiError, ProxyApiUnreachable, ProxyClientError

__all__ = ["ProxyServer", "SyncApi", "start_server"]

USER_AGENT = "chaos-workbench-pytest"  # never a browser's: the API answers those with 403


class SyncApi:
    """Blocking calls to a Toxiproxy-compatible API; errors as the async client raises them."""

    def __init__(self, api_url: str, *, timeout_s: float = 10.0) -> None:
        self.api_url = api_url
        self._http = httpx.Client(
            base_url=api_url,
            timeout=timeout_s,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # a loopback control API must never go through an HTTP proxy
        )

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer (None for an empty one); :class:`ProxyApiError` on an error status."""
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ProxyApiUnreachable(f"{method} {path}: {exc!r}") from exc
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except (ValueError, AttributeError):
                message = response.text.strip()
            raise ProxyApiError(response.status_code, message, method=method, path=path)
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()


class ProxyServer:
    """``cwb proxy serve`` running as a child; :meth:`stop` ends its whole process group."""

    def __init__(self, process: subprocess.Popen[bytes], workdir: Path) -> None:
        self._process = process
        self._workdir = workdir
        self.api_url = ""
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self, *, grace_s: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL after ``grace_s``. Idempotent."""
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self._process.pid, signal.SIGKILL)
                self._process.wait()
        shutil.rmtree(self._workdir, ignore_errors=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The child leads its own session (start_new_session), so its pid is its group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def start_server(host: str, port: int, *, ready_timeout_s: float = 15.0) -> ProxyServer:
    """Start the server on ``host:port`` (0: ephemeral) and return once ``/version`` answers.

    Raises :class:`ProxyClientError` with a one-line message (the server's own, e.g.
    ``cannot listen on 127.0.0.1:8474: Address already in use``) when it does not start.
    """
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="cwb-pytest-proxy-"))
    port_file, log_path = workdir / "api.port", workdir / "server.log"
    argv = [sys.executable, "-m", "chaos_workbench.proxy.cli", "serve", "--host", host]
    argv += ["--port", str(port), "--port-file", str(port_file)]
    argv += ["--exit-with-parent", str(os.getpid())]  # a killed pytest leaves no server
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ProxyServer(process, workdir)
    try:
        server.api_url = _wait_ready(process, port_file, log_path, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    server.startup_s = time.perf_counter() - started
    return server


def _wait_ready(
    process: subprocess.Popen[bytes], port_file: Path, log_path: Path, timeout_s: float
) -> str:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0, trust_env=False, headers={"User-Agent": USER_AGENT}) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ProxyClientError(_last_line(log_path) or f"exit code {process.returncode}")
            address = port_file.read_text().strip() if port_file.exists() else ""
            if address:
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"http://{address}/version").status_code == 200:
                        return f"http://{address}"
            time.sleep(0.02)  # poll interval: the server starts in ~0.5-1 s
    raise ProxyClientError(f"no answer on /version within {timeout_s} s")


def _last_line(log_path: Path) -> str:
    """The server's last output line without its ``error:`` prefix (its reason to exit)."""
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1].removeprefix("error:").strip() if lines else ""
