"""Revert what a run left behind, from its lease files (the watchdog and ``cwb cleanup``).

A lease is carried out action by action (in the order the fault listed them), each outcome
is written to the run's journal, and the lease file is deleted only when every action
succeeded, so a failed revert is retried by the next cleanup instead of being forgotten.

When the run itself is over (its controller is dead), :func:`end_run` also stops what it
*started* (``host.started``: the suite's processes, the built-in proxy, temporary
directories) — after the faults are reverted, so a paused process is thawed before it is
stopped, and without the restarts the leases ask for (a process restarted only to be
stopped would be one more thing to stop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaos_workbench.host import started
from chaos_workbench.host.private import UnsafePath, check_private_dir
from chaos_workbench.safety.actions import RevertAction
from chaos_workbench.safety.executor import Outcome, execute
from chaos_workbench.safety.leases import (
    append_journal,
    controller_alive,
    delete_lease,
    read_controller,
    read_leases,
)
from chaos_workbench.safety.policy import RevertPolicy, load_policy, refusal

__all__ = [
    "CleanupReport",
    "LeaseOutcome",
    "clean_orphans",
    "end_run",
    "revert_run",
    "run_dirs_under",
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
    stopped: list[str] = field(default_factory=list)  # what the run started, now stopped

    @property
    def nothing(self) -> bool:
        return not self.leases and not self.problems and self.skipped is None and not self.stopped


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
    policy, policy_problem = load_policy(run_dir)
    if policy_problem is not None:
        report.problems.append(policy_problem)
    for problem in report.problems:
        append_journal(run_dir, "safety.lease_unreadable", source=source, detail=problem)
    for path, lease in leases:
        outcomes = tuple(_carry_out(a, run_dir, policy, skip, reason) for a in lease.actions)
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


def _carry_out(
    action: RevertAction, run_dir: Path, policy: RevertPolicy, skip: frozenset[str], reason: str
) -> Outcome:
    if action.action in skip:
        return Outcome(action, True, f"skipped: {reason}")
    refused = refusal(action, run_dir, policy)
    if refused is not None:  # a lease that asks for more than a revert may do
        return Outcome(action, False, f"refused: {refused}")
    return execute(action)


def end_run(run_dir: Path, *, source: str, reason: str, grace_s: float = 5.0) -> CleanupReport:
    """A run whose controller is gone: revert its faults, then stop what it started.

    The restarts the leases ask for are skipped: every process the run started is about to
    be stopped. Each thing stopped is journaled and listed in the report's ``stopped``.
    """
    report = revert_run(run_dir, source=source, reason=reason, skip=frozenset({"start_process"}))
    things, problems = started.read_started(run_dir)
    report.problems.extend(problems)
    processes = [t for t in things if isinstance(t, started.StartedProcess)]
    dirs = [t for t in things if isinstance(t, started.StartedDir)]
    report.stopped = started.stop_processes(processes, grace_s=grace_s)
    report.stopped += started.remove_dirs(dirs)
    for line in report.stopped:
        append_journal(run_dir, "safety.stopped", source=source, reason=reason, detail=line)
    for thing in things:
        if not (isinstance(thing, started.StartedProcess) and started.is_same_process(thing)):
            started.forget(run_dir, thing.name)
    return report


def _is_run_dir(path: Path) -> bool:
    return (path / "leases").is_dir() or started.started_dir(path).is_dir()


def run_dirs_under(root: Path) -> list[Path]:
    """Run directories (with a ``leases`` or ``started`` folder) under ``root``, oldest first,
    each followed by the copies of a parallel run in it (``control``, ``copies/*``: each has
    its own leases and started things, and would be missed after a crash of everything)."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        copies = path / "copies"
        nested = [path / "control"]
        if copies.is_dir() and not copies.is_symlink():
            nested += sorted(copies.iterdir())
        found += [p for p in [path, *nested] if not p.is_symlink() and _is_run_dir(p)]
    return found


def clean_orphans(
    run_dirs: list[Path], *, source: str, force: bool = False, exclude: Path | None = None
) -> list[CleanupReport]:
    """End every run whose controller is gone (all of them with ``force``): revert its
    leases and stop what it started."""
    reports = []
    for run_dir in run_dirs:
        if exclude is not None and run_dir.resolve() == exclude.resolve():
            continue
        try:
            check_private_dir(run_dir)
        except UnsafePath as exc:  # anyone could have put instructions in it
            if (run_dir / "leases").is_dir() or started.started_dir(run_dir).is_dir():
                reports.append(CleanupReport(run_dir, skipped=f"{exc}; nothing carried out"))
            continue
        leases, problems = read_leases(run_dir)
        things, _ = started.read_started(run_dir)
        if not leases and not problems and not things:
            continue
        if not force and not leases and not problems and read_controller(run_dir) is None:
            continue  # no safety net yet (a run starting up): nobody can say it is dead
        if not force and controller_alive(run_dir):
            reports.append(
                CleanupReport(run_dir, skipped="its controller is still running (use --force)")
            )
            continue
        reports.append(end_run(run_dir, source=source, reason="left behind by a dead run"))
    return reports
