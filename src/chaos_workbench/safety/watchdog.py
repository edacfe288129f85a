"""The watchdog: a separate process that reverts a run's faults when its controller stops.

Started by :class:`~chaos_workbench.safety.net.SafetyNet` in its own session (a Ctrl-C, a
SIGKILL or an OOM kill of the controller does not reach it), it polls the run directory:

* the controller is gone (pid dead or reused): revert every outstanding lease at once, then
  stop what the run started (its processes, the built-in proxy) and remove its temporary
  directories (``cleanup.end_run``);
* the heartbeat has not moved for ``deadline_s`` (a hung event loop, a stopped process):
  revert every outstanding lease, and keep watching (a controller that wakes up renews
  again and its next leases are protected again);
* ``safety/stop`` appears: the run ended cleanly; exit.

It writes what it did to ``run_dir/journal.jsonl``. Run it by hand as
``python -m chaos_workbench.safety.watchdog RUN_DIR`` (or ``cwb watchdog RUN_DIR``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from chaos_workbench.safety.cleanup import CleanupReport, end_run, revert_run
from chaos_workbench.safety.leases import (
    append_journal,
    read_controller,
    read_heartbeat,
    read_leases,
    safety_dir,
    same_process,
    write_atomic,
)

__all__ = ["POLL_S", "main", "watch"]

POLL_S = 0.1  # detection latency vs. wake-ups: 10 polls/s of a few stat() calls is free
_RETRY_S = 1.0
_MAX_LIFETIME_S = 7 * 24 * 3600.0  # a bound for the loop; no run lasts a week


def watch(run_dir: Path) -> int:
    """Watch ``run_dir`` until the run ends; returns the exit code."""
    info = read_controller(run_dir)
    if info is None:
        print(f"watchdog: no controller.json in {safety_dir(run_dir)}", file=sys.stderr)
        return 2
    # Ignore terminal signals: only the stop file (or SIGKILL) ends the watchdog.
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    me = {"pid": os.getpid(), "controller_pid": info.pid}
    write_atomic(safety_dir(run_dir) / "watchdog.json", json.dumps(me).encode(), durable=False)
    append_journal(run_dir, "safety.watchdog_started", source="watchdog", **me)
    stop_file = safety_dir(run_dir) / "stop"
    last_beat = read_heartbeat(run_dir)
    last_change = time.monotonic()
    started = last_change
    next_attempt = 0.0  # failed reverts are retried, at most once per _RETRY_S
    while time.monotonic() - started < _MAX_LIFETIME_S:
        if stop_file.exists():
            append_journal(run_dir, "safety.watchdog_stopped", source="watchdog")
            return 0
        beat = read_heartbeat(run_dir)
        now = time.monotonic()
        if beat != last_beat:
            last_beat, last_change = beat, now
        alive = same_process(info.pid, info.create_time)
        if not alive:
            report = end_run(run_dir, source="watchdog", reason="controller died")
            _journal_reverted(run_dir, "controller died", report)
            append_journal(
                run_dir, "safety.watchdog_exit", source="watchdog", reason="controller gone"
            )
            return 0
        if now - last_change > info.deadline_s and now >= next_attempt:
            leases, _ = read_leases(run_dir)
            if leases:
                overdue = f"no renewal for {now - last_change:.1f} s (deadline {info.deadline_s} s)"
                _revert(run_dir, overdue)
                next_attempt = now + _RETRY_S
        time.sleep(POLL_S)
    return 0


def _revert(run_dir: Path, reason: str) -> None:
    _journal_reverted(run_dir, reason, revert_run(run_dir, source="watchdog", reason=reason))


def _journal_reverted(run_dir: Path, reason: str, report: CleanupReport) -> None:
    if report.leases:
        append_journal(
            run_dir,
            "safety.watchdog_reverted",
            source="watchdog",
            reason=reason,
            leases=[lease.lease_id for lease in report.leases],
        )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m chaos_workbench.safety.watchdog RUN_DIR", file=sys.stderr)
        return 2
    return watch(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
