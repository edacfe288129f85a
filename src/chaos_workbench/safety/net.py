"""The safety net of one run: durable leases, a renewal task, and a watchdog process.

Usage by the engine (or any controller)::

    async with SafetyNet(run_dir) as net:
        lease = net.lease("kill-db", fault.describe(), fault.revert_actions())  # fsynced
        await fault.apply()
        lease.update(fault.revert_actions())       # now with pids known after apply
        ...
        await fault.revert()
        lease.release()                            # only after a successful revert

While the net is open the controller rewrites a heartbeat every ``renew_every_s``; the
watchdog (its own session, outliving the controller) reverts every outstanding lease when
the controller dies or its heartbeat is older than ``deadline_s``. On entry the net also
reverts leftovers of earlier runs under the same root whose controller is gone (the
"watchdog was killed too" case); on exit it reverts anything still leased (except
``StartProcess``: at the end of a run the supervisor stops every process, and a restart
would outlive it), then stops the watchdog. If the watchdog dies during the run, the
renewal task starts a new one.

Exceptions::

    SafetyError (WorkbenchError)  the watchdog could not be started (the run must not inject faults)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil

from chaos_workbench.aio import AsyncResource
from chaos_workbench.errors import WorkbenchError
from chaos_workbench.host.private import UnsafePath, make_private_dir
from chaos_workbench.safety.actions import RevertAction
from chaos_workbench.safety.cleanup import CleanupReport, clean_orphans, revert_run, run_dirs_under
from chaos_workbench.safety.leases import (
    ControllerInfo,
    LeaseRecord,
    append_journal,
    delete_lease,
    leases_dir,
    read_leases,
    safety_dir,
    write_atomic,
    write_heartbeat,
    write_lease,
)
from chaos_workbench.safety.policy import RevertPolicy, policy_path

__all__ = ["Lease", "SafetyError", "SafetyNet"]

_WATCHDOG_START_TIMEOUT_S = 30.0  # a cold Python start on a loaded 2-core box can take seconds


class SafetyError(WorkbenchError):
    """The safety net could not be set up; no fault may be applied without it."""


class Lease:
    """One applied fault's revert actions, on disk until released."""

    def __init__(self, run_dir: Path, record: LeaseRecord) -> None:
        self.run_dir = run_dir
        self.record = record
        self.path = write_lease(run_dir, record)  # durable before the caller applies the fault

    @property
    def id(self) -> str:
        return self.record.id

    def update(self, actions: Sequence[RevertAction]) -> None:
        """Replace the revert actions (e.g. once apply knows the helper's pid)."""
        self.record = self.record.model_copy(update={"actions": tuple(actions)})
        write_lease(self.run_dir, self.record)

    def release(self) -> None:
        """The fault was reverted: nobody needs to revert it any more."""
        delete_lease(self.path)


class SafetyNet(AsyncResource):
    """Async context manager: leases + heartbeat + watchdog for one run directory."""

    def __init__(
        self,
        run_dir: Path,
        *,
        renew_every_s: float = 1.0,
        deadline_s: float = 5.0,
        policy: RevertPolicy | None = None,
    ) -> None:
        if not 0 < renew_every_s < deadline_s:
            raise ValueError("renew_every_s must be positive and shorter than deadline_s")
        self.run_dir = run_dir
        self.policy = policy or RevertPolicy()
        self.renew_every_s = renew_every_s
        self.deadline_s = deadline_s
        self.leftovers: list[CleanupReport] = []  # what entry cleaned from earlier runs
        self.exit_report: CleanupReport | None = None
        self._counter = itertools.count(1)
        self._beats = itertools.count(1)
        self._renew_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.subprocess.Process | None = None

    @property
    def watchdog_pid(self) -> int | None:
        return self._watchdog.pid if self._watchdog is not None else None

    async def _on_enter(self) -> None:
        try:  # 0700 and ours, or refused: its files are instructions to whoever cleans up
            make_private_dir(self.run_dir)
            make_private_dir(leases_dir(self.run_dir))
            make_private_dir(safety_dir(self.run_dir))
        except UnsafePath as exc:
            raise SafetyError(f"the run directory cannot be trusted: {exc}") from exc
        write_atomic(policy_path(self.run_dir), self.policy.model_dump_json().encode())
        with contextlib.suppress(FileNotFoundError):
            (safety_dir(self.run_dir) / "stop").unlink()
        runs = run_dirs_under(self.run_dir.parent)
        self.leftovers = await asyncio.to_thread(
            clean_orphans, runs, source="next-run", exclude=self.run_dir
        )
        me = psutil.Process()
        info = ControllerInfo(
            pid=me.pid,
            create_time=me.create_time(),
            renew_every_s=self.renew_every_s,
            deadline_s=self.deadline_s,
        )
        write_atomic(safety_dir(self.run_dir) / "controller.json", info.model_dump_json().encode())
        write_heartbeat(self.run_dir, next(self._beats))
        await self._start_watchdog()
        self._renew_task = asyncio.create_task(self._renew(), name="safety-net-renew")

    async def _start_watchdog(self) -> None:
        ready_file = safety_dir(self.run_dir) / "watchdog.json"
        with contextlib.suppress(FileNotFoundError):
            ready_file.unlink()
        log = self.run_dir / "logs" / "watchdog.log"
        make_private_dir(log.parent)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            self._watchdog = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "chaos_workbench.safety.watchdog",
                str(self.run_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                start_new_session=True,  # not in the controller's process group or session
            )
        finally:
            os.close(fd)
        deadline = time.monotonic() + _WATCHDOG_START_TIMEOUT_S
        while not ready_file.exists():
            if self._watchdog.returncode is not None or time.monotonic() > deadline:
                if self._watchdog.returncode is None:
                    self._watchdog.kill()
                await self._watchdog.wait()
                self._watchdog = None
                raise SafetyError(f"the watchdog did not start; see {log}")
            await asyncio.sleep(0.02)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every_s)
            write_heartbeat(self.run_dir, next(self._beats))
            if self._watchdog is None or self._watchdog.returncode is not None:
                append_journal(
                    self.run_dir,
                    "safety.watchdog_restarted",
                    source="controller",
                    exit_code=self._watchdog.returncode if self._watchdog else None,
                )
                try:
                    await self._start_watchdog()
                except SafetyError as exc:  # keep renewing; try again next round
                    append_journal(self.run_dir, "safety.watchdog_restart_failed", detail=str(exc))

    def lease(self, experiment: str, fault: str, actions: Sequence[RevertAction]) -> Lease:
        """Write (and fsync) a lease for a fault about to be applied."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment)[:40] or "experiment"
        record = LeaseRecord(
            id=f"{next(self._counter):04d}-{slug}",
            experiment=experiment,
            fault=fault,
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            actions=tuple(actions),
        )
        return Lease(self.run_dir, record)

    def outstanding(self) -> list[LeaseRecord]:
        return [record for _, record in read_leases(self.run_dir)[0]]

    async def aclose(self) -> None:
        """Revert anything still leased, then stop the watchdog and wait for it."""
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
            self._renew_task = None
        if self.outstanding():
            self.exit_report = await asyncio.to_thread(
                revert_run,
                self.run_dir,
                source="controller",
                reason="the run is ending and its supervisor stops every process",
                skip=frozenset({"start_process"}),
            )
        watchdog, self._watchdog = self._watchdog, None
        write_atomic(safety_dir(self.run_dir) / "stop", b"stop\n", durable=False)
        if watchdog is not None:
            try:
                await asyncio.wait_for(watchdog.wait(), 5.0)
            except TimeoutError:
                watchdog.kill()
                await watchdog.wait()
