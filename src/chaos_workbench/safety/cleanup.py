"""Revert what a run left behind, from its lease files (the watchdog and ``cwb cleanup``).

A lease is carried out action by action (in the order the fault listed them), each outcome
is written to the run's journal, and the lease file is deleted only when every action
succeeded, so a failed revert is retried by the next cleanup instead of being forgotten.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.spawn import cgroup_prefix, process_running, read_pid_file
from chaos_workbench.safety.executor import Outcome, execute
from chaos_workbench.safety.leases import (
    append_journal,
    controller_alive,
    delete_lease,
    read_leases,
)

__all__ = [
    "CleanupReport",
    "LeaseOutcome",
    "clean_orphans",
    "revert_run",
    "run_dirs_under",
    "stop_processes",
]

DEFAULT_RUNS_ROOT = Path(".cwb/runs")


@dataclass(frozen=True)
class LeaseOutcome:
    """What reverting one lease did."""

    lease_id: str
    experiment: str
    fault: str
    outcomes: tuple[Outcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


@dataclass
class CleanupReport:
    """Everything one cleanup of one run directory did."""

    run_dir: Path
    leases: list[LeaseOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the run was left alone (its controller is alive)

    @property
    def nothing(self) -> bool:
        return not self.leases and not self.problems and self.skipped is None


def revert_run(
    run_dir: Path, *, source: str, reason: str, skip: frozenset[str] = frozenset()
) -> CleanupReport:
    """Carry out and journal every outstanding lease of ``run_dir``.

    Actions whose ``action`` name is in ``skip`` are reported as done without running
    (at the clean end of a run, restarting a supervised process that the supervisor is
    stopping anyway would only leave it behind).
    """
    report = CleanupReport(run_dir)
    leases, report.problems = read_leases(run_dir)
    for problem in report.problems:
        append_journal(run_dir, "safety.lease_unreadable", source=source, detail=problem)
    for path, lease in leases:
        outcomes = tuple(
            Outcome(a, True, f"skipped: {reason}") if a.action in skip else execute(a)
            for a in lease.actions
        )
        result = LeaseOutcome(lease.id, lease.experiment, lease.fault, outcomes)
        report.leases.append(result)
        for outcome in outcomes:
            append_journal(
                run_dir,
                "safety.revert_action",
                source=source,
                reason=reason,
                lease=lease.id,
                experiment=lease.experiment,
                fault=lease.fault,
                action=outcome.action.action,
                ok=outcome.ok,
                detail=outcome.detail,
            )
        if result.ok:
            delete_lease(path)
        append_journal(
            run_dir,
            "safety.lease_reverted" if result.ok else "safety.lease_revert_failed",
            source=source,
            reason=reason,
            lease=lease.id,
            experiment=lease.experiment,
            fault=lease.fault,
        )
    return report


def run_dirs_under(root: Path) -> list[Path]:
    """Run directories (those with a ``leases`` folder) under ``root``, oldest name first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "leases").is_dir())


def clean_orphans(
    run_dirs: list[Path], *, source: str, force: bool = False, exclude: Path | None = None
) -> list[CleanupReport]:
    """Revert the leases of every run whose controller is gone (all of them with ``force``)."""
    reports = []
    for run_dir in run_dirs:
        if exclude is not None and run_dir.resolve() == exclude.resolve():
            continue
        leases, problems = read_leases(run_dir)
        if not leases and not problems:
            continue
        if not force and controller_alive(run_dir):
            reports.append(
                CleanupReport(run_dir, skipped="its controller is still running (use --force)")
            )
            continue
        reports.append(revert_run(run_dir, source=source, reason="leftover leases"))
    return reports


def stop_processes(run_dir: Path, *, grace_s: float = 3.0) -> list[str]:
    """Stop the supervised processes a dead run left running, and remove their cgroups.

    After a crash the watchdog keeps (and restarts) the system under test on purpose; this
    is the explicit way to take it down (``cwb cleanup --stop-processes``).
    """
    done: list[str] = []
    for pid_file in sorted((run_dir / "pids").glob("*.pid")):
        pid = read_pid_file(pid_file)
        if pid is None or not process_running(pid):
            continue
        for sig in (signal.SIGTERM, signal.SIGCONT):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + grace_s
        while process_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        done.append(f"stopped {pid_file.stem} (pid {pid})")
    prefix = cgroup_prefix(run_dir)
    root = Path("/sys/fs/cgroup")  # v2 alone is mounted here; v1 and hybrid one level down
    for group in sorted([*root.glob(f"{prefix}-*"), *root.glob(f"*/{prefix}-*")]):
        if group.is_dir():
            cg.remove(cg.at(group))
            done.append(f"removed cgroup {group}")
    return done
