"""Helpers for the demo tests: real demo servers on ephemeral loopback ports.

Imported by ``conftest.py`` (which puts this directory on ``sys.path``: the suite runs with
``--import-mode=importlib``) and by the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

START_TIMEOUT_S = 60.0  # initdb on a loaded 2-core machine takes a few seconds; bounded


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout_s`` passes."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


@dataclass
class DemoServer:
    """One running demo program: its argv, port, log, and process."""

    name: str
    argv: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    history: list[int] = field(default_factory=list)
    env: dict[str, str] | None = None  # the environment to start it in (None: ours)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Start and wait for the port; return how long that took, in seconds."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        proc = self.proc
        if not wait_until(lambda: port_open(self.port) or proc.poll() is not None, timeout_s):
            self.kill()
            raise AssertionError(f"{self.name} not ready in {timeout_s} s:\n{self.tail()}")
        if proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {proc.returncode}:\n{self.tail()}")
        return time.monotonic() - started

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 15.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout_s)
        self.history.append(code)
        return code

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM and wait; the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL the whole process group (teardown of whatever is left)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def demo_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"chaos_workbench.demo.{module}", *args]


def start_demo_server(name: str, module: str, port: int, log_dir: Path, *extra: str) -> DemoServer:
    server = DemoServer(
        name, demo_argv(module, "--port", str(port), *extra), port, log_dir / f"{name}.log"
    )
    server.start()
    return server


def stop_all(servers: Sequence[DemoServer]) -> None:
    for server in reversed(servers):
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        server.kill()


@dataclass
class Stack:
    """The four dependencies of the order-service, each a real server."""

    db: DemoServer
    cache: DemoServer
    queue: DemoServer
    payments: DemoServer
    data_dir: Path
    log_dir: Path

    @property
    def servers(self) -> list[DemoServer]:
        return [self.db, self.cache, self.queue, self.payments]

    def service_args(self) -> list[str]:
        return [
            "--db",
            f"127.0.0.1:{self.db.port}",
            "--cache",
            f"127.0.0.1:{self.cache.port}",
            "--queue",
            f"127.0.0.1:{self.queue.port}",
            "--payments",
            f"127.0.0.1:{self.payments.port}",
        ]


def start_stack(base: Path) -> Stack:
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = base / "pg"
    started: list[DemoServer] = []
    try:
        started.append(
            start_demo_server("db", "postgres_server", free_port(), logs, "--data", str(data))
        )
        started.append(start_demo_server("cache", "valkey_server", free_port(), logs))
        started.append(start_demo_server("queue", "nats_server", free_port(), logs))
        started.append(start_demo_server("payments", "payments", free_port(), logs))
    except BaseException:
        stop_all(started)
        raise
    return Stack(*started, data_dir=data, log_dir=logs)


async def connect_pg(port: int, timeout_s: float = 20.0) -> asyncpg.Connection:
    """Connect to the demo db; while it says "starting up" (crash recovery after its
    port opened), try again - bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await asyncpg.connect(host="127.0.0.1", port=port, user="postgres")
        except asyncpg.CannotConnectNowError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
