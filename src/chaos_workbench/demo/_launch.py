"""Shared machinery of the demo's dependency launchers (``python -m chaos_workbench.demo.*``).

Each launcher runs in the foreground so the workbench's supervisor can signal and restart
it. Servers that exit cleanly on SIGTERM (Valkey, NATS) are ``exec``-ed, so the supervised
pid *is* the server. PostgreSQL needs a parent (see ``postgres_server``): this module gives
it a child that dies with its parent (``PR_SET_PDEATHSIG``), so a SIGKILL of the launcher
takes the database down too, as a "kill db" experiment means.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "die_with_parent",
    "find_executable",
    "port_accepts",
    "wait_for_port",
]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def find_executable(name: str) -> Path:
    """A binary installed into this environment's scripts dir (e.g. ``nats-server``)."""
    candidates = [Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        f"{name} not found in {candidates[0].parent}; install the demo extra: "
        "pip install 'chaos-workbench[demo]'"
    )


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive SIGKILL when its parent dies.

    It runs after the child's uid change (CPython applies ``user=`` first), which matters:
    the kernel clears the parent-death signal whenever credentials change.
    """

    def _preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return _preexec


def port_accepts(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when a TCP connect to host:port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, *, timeout_s: float, alive: Callable[[], bool] | None = None
) -> bool:
    """Poll until host:port accepts connections; False on timeout or when ``alive()`` fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_accepts(host, port):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.05)  # poll interval: fast enough for a sub-second restart
    return False
