"""What a run started, on disk, so that whoever ends a dead run stops it too.

Besides the faults it injects, a run *starts* things: the suite's processes (with, in
their process groups, children such as PostgreSQL's workers), the built-in fault proxy,
and temporary directories (the demo's PostgreSQL data). Each is recorded in
``run_dir/started/<name>.json`` when it starts and forgotten when the run stops it. If
the controller dies instead (kill -9, an OOM kill), the watchdog, ``cwb cleanup`` or the
next run under the same root reads the records and :func:`stop_processes` ends what is
still there: SIGTERM to each process group (SIGCONT too, so a stopped one can act on it),
SIGKILL to the groups still alive after a shared grace period, then whatever is left in
the process's cgroups; :func:`remove_dirs` deletes the directories.

A record names a process by pid, start time and command line, and all three are checked
against /proc before any signal is sent: a pid that another program has taken since is
left alone. The command line is recorded once the process is ready (by then any wrapper
has exec'd the real command); a record written earlier carries none and is matched by pid
and start time. Processes a suite only *adopts* (``pid_file``) are never recorded, so
nothing here ever stops them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Annotated, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.names import safe_file_name
from chaos_workbench.host.private import (
    UnsafePath,
    make_private_dir,
    read_private,
    write_private,
)

__all__ = [
    "Started",
    "StartedDir",
    "StartedProcess",
    "forget",
    "is_same_process",
    "process_record",
    "read_started",
    "record",
    "remove_dirs",
    "started_dir",
    "stop_processes",
]

_POLL_S = 0.05
_SAME_START_S = 0.05  # psutil's create_time is rounded to clock ticks (10 ms)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str


class StartedProcess(_Record):
    """A process the run started: its group and cgroups go with it."""

    kind: Literal["process"] = "process"
    pid: int = Field(gt=0)
    create_time: float
    cmdline: tuple[str, ...] = ()  # empty until the process was ready
    cgroups: tuple[str, ...] = ()


class StartedDir(_Record):
    """A temporary directory the run created; removed with the run."""

    kind: Literal["dir"] = "dir"
    path: str


Started = Annotated[StartedProcess | StartedDir, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[Started] = TypeAdapter(Started)


def started_dir(run_dir: Path) -> Path:
    return run_dir / "started"


def _path(run_dir: Path, name: str) -> Path:
    return started_dir(run_dir) / f"{safe_file_name(name)}.json"


def record(run_dir: Path, thing: StartedProcess | StartedDir) -> None:
    """Write (atomically, privately) the record of something the run started; replaces an
    older one. Not fsynced: it only has to outlive the process that writes it."""
    path = _path(run_dir, thing.name)
    make_private_dir(path.parent)
    write_private(path, thing.model_dump_json().encode(), durable=False)


def forget(run_dir: Path, name: str) -> None:
    """The run stopped (or removed) it itself: nobody needs to any more."""
    with contextlib.suppress(FileNotFoundError):
        _path(run_dir, name).unlink()


def process_record(
    name: str, pid: int, *, cgroups: tuple[str, ...] = (), with_cmdline: bool = True
) -> StartedProcess | None:
    """The record of ``pid`` as /proc shows it now; None when it is already gone."""
    try:
        proc = psutil.Process(pid)
        create_time = proc.create_time()
        cmdline = tuple(proc.cmdline()) if with_cmdline else ()
    except psutil.Error:
        return None
    return StartedProcess(
        name=name, pid=pid, create_time=create_time, cmdline=cmdline, cgroups=cgroups
    )


def read_started(run_dir: Path) -> tuple[list[StartedProcess | StartedDir], list[str]]:
    """Every record of ``run_dir``, newest first, and a message for each unreadable file."""
    found: list[tuple[float, StartedProcess | StartedDir]] = []
    problems: list[str] = []
    directory = started_dir(run_dir)
    if not directory.is_dir():
        return [], problems
    for path in directory.glob("*.json"):
        try:
            thing = _ADAPTER.validate_json(read_private(path))
            found.append((path.stat().st_mtime, thing))
        except FileNotFoundError:
            continue  # forgotten while we listed
        except UnsafePath as exc:  # someone else could have written it: never acted on
            problems.append(f"{exc} (record not acted on)")
        except (OSError, ValidationError) as exc:
            problems.append(f"{path}: unreadable record: {exc}")
    found.sort(key=lambda item: item[0], reverse=True)
    return [thing for _, thing in found], problems


def is_same_process(thing: StartedProcess) -> bool:
    """True when ``thing.pid`` is alive and is still the process the run started."""
    try:
        proc = psutil.Process(thing.pid)
        if abs(proc.create_time() - thing.create_time) >= _SAME_START_S:
            return False
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not thing.cmdline or tuple(proc.cmdline()) == thing.cmdline
    except psutil.Error:
        return False


def _signal(pid: int, sig: signal.Signals) -> None:
    """To the process group when ``pid`` leads one (every supervised process does)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _thaw(paths: tuple[str, ...]) -> None:
    """A frozen process cannot act on SIGTERM, or even die of SIGKILL: thaw it first."""
    for path in paths:
        if (Path(path) / "freezer.state").exists() or (Path(path) / "cgroup.freeze").exists():
            with contextlib.suppress(OSError, cg.CgroupUnavailable):
                cg.thaw(cg.at(path))


def stop_processes(things: list[StartedProcess], *, grace_s: float = 5.0) -> list[str]:
    """Stop every recorded process that is still the one the run started; what it did.

    All are asked at once (SIGTERM), so a system of five processes takes one grace period,
    not five; the ones still alive then are killed with their groups, and what is left in
    their cgroups after that is killed and the cgroups removed.
    """
    done: list[str] = []
    alive = [t for t in things if is_same_process(t)]
    for thing in alive:
        _thaw(thing.cgroups)
        _signal(thing.pid, signal.SIGTERM)
        _signal(thing.pid, signal.SIGCONT)
    deadline = time.monotonic() + grace_s
    while any(is_same_process(t) for t in alive) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    for thing in alive:
        killed = is_same_process(thing)
        # Children that outlived their leader (or ignored SIGTERM) go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(thing.pid, signal.SIGKILL)
        how = "SIGKILL after the grace period" if killed else "SIGTERM"
        done.append(f"stopped {thing.name} (pid {thing.pid}, {how})")
    for thing in things:
        for path in thing.cgroups:
            if Path(path).is_dir():
                with contextlib.suppress(OSError, cg.CgroupUnavailable):
                    cg.remove(cg.at(path))
                    done.append(f"removed cgroup {path} of {thing.name}")
    return done


def remove_dirs(things: list[StartedDir]) -> list[str]:
    """Delete each recorded directory (a missing one is fine); what it did."""
    done = []
    for thing in things:
        path = Path(thing.path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {thing.name} directory {path}")
    return done
