"""Command probe: run a program once per probe; exit status 0 in time is a success.

For systems whose own client is a program (``etcdctl put``): each call starts the command
directly (no shell, so no quoting surprises), in a process group of its own, with standard
input, output and error discarded. When the driver gives up on the call (the probe's
deadline, intended time + ``timeout_ms``, or the run stopping), the whole group is killed
with SIGKILL and reaped, so a client stuck on a dead server never outlives its probe.

Each program is started and waited for in a worker thread, never on the event loop: a
fork and exec blocks its caller until the child has exec'd, which on a busy machine can
take tens of milliseconds, and the loop also paces the probes and times every other one.
The pool has ``max_in_flight`` threads, the same bound the driver keeps.

A non-zero exit is an ``other`` error (a program's exit status says nothing reliable about
why); a program that cannot be started is one too, on every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from chaos_workbench.errors import WorkbenchError
from chaos_workbench.probes.base import Prober
from chaos_workbench.probes.spec import CommandProbeSpec

__all__ = ["CommandFailed", "CommandProber"]


class CommandFailed(WorkbenchError):
    """The probe's command exited with a non-zero status (one failed measurement)."""


class _Run:
    """One call's process, shared by its worker thread and the coroutine waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.abandoned = False  # the caller gave up: kill the process as soon as it exists

    def abandon(self) -> None:
        """Kill the process group (if started and not yet reaped), or never start it."""
        with self.lock:
            self.abandoned = True
            if self.pid is not None:
                _kill_group(self.pid)


class CommandProber(Prober):
    """Runs ``spec.command`` once per call, in its own process group."""

    def __init__(self, spec: CommandProbeSpec) -> None:
        self.spec = spec
        self._env = {**os.environ, **spec.env}
        self._pool = ThreadPoolExecutor(spec.max_in_flight, thread_name_prefix="cwb-command")
        self._runs: set[_Run] = set()

    async def call(self) -> None:
        run = _Run()
        self._runs.add(run)
        try:
            status = await asyncio.get_running_loop().run_in_executor(self._pool, self._run, run)
        except BaseException:  # cancelled: the driver's deadline passed or the run stops
            run.abandon()
            raise
        finally:
            self._runs.discard(run)
        if status != 0:
            raise CommandFailed(f"{self.spec.command[0]} exited with status {status}")

    def _run(self, run: _Run) -> int:
        """In a worker thread: start the command and wait for its exit status."""
        with run.lock:
            if run.abandoned:
                raise TimeoutError
            process = subprocess.Popen(
                self.spec.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,  # its own process group: a timeout kills all of it
            )
            run.pid = process.pid
        # Wait for the exit without reaping (WNOWAIT): until ``pid`` is cleared below, the
        # process is at least a zombie, so its pid and group cannot be reused and
        # ``abandon`` may kill the group safely.
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        with run.lock:
            run.pid = None
        return process.wait()

    async def aclose(self) -> None:
        for run in list(self._runs):
            run.abandon()
        # Every worker is now reaping a killed process (or about to return): quick.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
