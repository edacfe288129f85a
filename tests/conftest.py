"""Fixtures every test area may use: real child processes (a TCP server, a counter), ports, a run directory."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Listens on the port in argv[1] (after an optional delay in argv[2]) and prints a line.
SERVER = """
import socket, sys, time
time.sleep(float(sys.argv[2]))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
while True:
    conn, _ = s.accept()
    conn.close()
"""

# Appends an increasing number to the file in argv[1] every 20 ms (progress you can see).
COUNTER = """
import sys, time
n = 0
with open(sys.argv[1], "a") as f:
    print("counting", flush=True)
    while n < 100000:
        n += 1
        f.write(f"{n}\\n"); f.flush()
        time.sleep(0.02)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a port that was free a moment ago; the child binds it
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    return _free_port


@pytest.fixture
def server_command() -> Callable[..., tuple[str, ...]]:
    def make(port: int, delay_s: float = 0.0) -> tuple[str, ...]:
        return (sys.executable, "-c", SERVER, str(port), str(delay_s))

    return make


@pytest.fixture
def counter_command() -> Callable[[Path], tuple[str, ...]]:
    def make(path: Path) -> tuple[str, ...]:
        return (sys.executable, "-c", COUNTER, str(path))

    return make


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir()
    return path
