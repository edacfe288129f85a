"""Starting processes the same way from the supervisor and from the watchdog.

A process that must live in cgroups has to be placed there *before* it runs its own code,
or its first allocations (and any children it forks early) escape the limit. ``preexec_fn``
would do it but is unsafe with threads; instead the command runs under a two-line
``/bin/sh`` wrapper that writes its own pid into each ``cgroup.procs`` and then ``exec``s
the real command, so the pid stays the same and the process is in place from its first
instruction. Readiness helpers live here too, in blocking and async forms, and
:func:`die_with_parent` for helpers that must not outlive the process that started them.

:class:`LaunchSpec` is everything needed to start a supervised process again from another
process (the watchdog restarting a killed database while the controller hangs): the
supervisor describes it, the safety net carries it in a lease file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TAG_ENV",
    "LaunchSpec",
    "cgroup_prefix",
    "die_with_parent",
    "free_ports",
    "port_open",
    "port_open_async",
    "process_running",
    "read_pid_file",
    "wait_port",
    "wrap_in_cgroups",
    "write_pid_file",
]

TAG_ENV = "CWB_FAULT_TAG"

# `$0` is a label for ps; the cgroup directories arrive as CWB_CGROUPS, ':'-separated,
# so the user's argv passes through "$@" untouched.
_WRAPPER = (
    'IFS=:; for d in $CWB_CGROUPS; do echo $$ > "$d/cgroup.procs" || exit 126; done; '
    'unset CWB_CGROUPS IFS; exec "$@"'
)


def wrap_in_cgroups(
    argv: Sequence[str], cgroup_dirs: Sequence[str | Path], env: dict[str, str]
) -> list[str]:
    """The argv that runs ``argv`` inside ``cgroup_dirs``; ``env`` gains the directory list."""
    if not cgroup_dirs:
        return list(argv)
    env["CWB_CGROUPS"] = ":".join(str(d) for d in cgroup_dirs)
    return ["/bin/sh", "-c", _WRAPPER, "cwb-exec", *argv]


def cgroup_prefix(run_dir: Path) -> str:
    """The name prefix of the cgroups a run's supervisor creates (``cwb-<hash of run_dir>``)."""
    return "cwb-" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, so never the same twice).

    They are released before the servers bind them; another program could take one in
    between, which the supervisor then reports as a process that did not become ready.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


async def port_open_async(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def process_running(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # state is the field after the parenthesised command name
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_port(
    host: str, port: int, timeout_s: float, *, alive: Callable[[], bool] | None = None
) -> bool:
    """Poll a port until it accepts (True), the timeout passes or ``alive()`` fails (False).

    Blocking: for the watchdog and for launchers that have no event loop.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port, timeout_s=0.2):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.05)  # fast enough for a sub-second restart
    return False


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive SIGKILL when its parent dies.

    Only for a parent without threads (``preexec_fn`` is unsafe with them). It runs after
    the child's uid change (CPython applies ``user=`` first), which matters: the kernel
    clears the parent-death signal whenever credentials change.
    """

    def _preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return _preexec


class LaunchSpec(BaseModel):
    """How to start a supervised process again from outside the supervisor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    command: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    pid_file: str | None = None  # where the new pid is written for the supervisor to adopt
    ready_port: int | None = None
    ready_host: str = "127.0.0.1"
    ready_http: str | None = None  # a URL that must answer one of ready_status
    ready_status: tuple[int, ...] = (200,)
    log_path: str | None = None
    cgroups: tuple[str, ...] = ()  # cgroup directories the new process is placed into
    ready_timeout_s: float = Field(default=30.0, gt=0)
    # The run's ``started/`` directory (host.started): the new process is recorded there,
    # so that it is stopped with the run like the one it replaces.
    started_dir: str | None = None


def read_pid_file(path: str | Path) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pid_file(path: str | Path, pid: int) -> None:
    """Atomically replace a pid file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".tmp{os.getpid()}")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, target)
