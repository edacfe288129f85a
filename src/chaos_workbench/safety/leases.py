"""Lease files, the controller's heartbeat and the journal lines the safety net writes.

Layout of a run directory (everything the watchdog and ``cwb cleanup`` need is on disk)::

    run_dir/
      leases/<id>.json       one per applied fault: its revert actions (fsynced before apply)
      safety/controller.json who renews (pid + start time) and the renewal deadline
      safety/heartbeat       a counter the controller rewrites every renewal
      safety/watchdog.json   the watchdog's pid, written once it watches
      safety/stop            asks the watchdog to exit (a clean end of the run)
      journal.jsonl          what was reverted, by whom (shared with the engine's journal)

Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a reader sees
a whole old lease or a whole new one, never half of one, even after a power cut. Every
file here is an instruction someone will carry out, so all of it is private
(``host.private``): directories 0700, files 0600, no symlink followed, and a file that is
not ours or that others may write is refused, reported, and never acted on.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, ValidationError

from chaos_workbench.host.private import (
    UnsafePath,
    append_private,
    make_private_dir,
    read_private,
    write_private,
)
from chaos_workbench.safety.actions import RevertAction

__all__ = [
    "ControllerInfo",
    "LeaseRecord",
    "actions_json",
    "append_journal",
    "controller_alive",
    "delete_lease",
    "leases_dir",
    "read_controller",
    "read_heartbeat",
    "read_leases",
    "safety_dir",
    "same_process",
    "write_atomic",
    "write_heartbeat",
    "write_lease",
]


class LeaseRecord(BaseModel):
    """One applied fault and how to undo it from outside the controller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    experiment: str
    fault: str
    created_at: str
    actions: tuple[RevertAction, ...]


class ControllerInfo(BaseModel):
    """The process that renews the leases of a run, and how often it must."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid: int
    create_time: float
    renew_every_s: float
    deadline_s: float


def leases_dir(run_dir: Path) -> Path:
    return run_dir / "leases"


def safety_dir(run_dir: Path) -> Path:
    return run_dir / "safety"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (0600, in a 0700 directory, no symlink
    followed); with ``durable``, survive a power cut too."""
    make_private_dir(path.parent)
    write_private(path, data, durable=durable)


def write_lease(run_dir: Path, record: LeaseRecord) -> Path:
    path = leases_dir(run_dir) / f"{record.id}.json"
    write_atomic(path, record.model_dump_json(indent=1).encode())
    return path


def read_leases(run_dir: Path) -> tuple[list[tuple[Path, LeaseRecord]], list[str]]:
    """Outstanding leases, oldest first, and a message for every file that is not one."""
    found: list[tuple[Path, LeaseRecord]] = []
    problems: list[str] = []
    directory = leases_dir(run_dir)
    if not directory.is_dir():
        return found, problems
    for path in sorted(directory.glob("*.json")):
        try:
            found.append((path, LeaseRecord.model_validate_json(read_private(path))))
        except FileNotFoundError:
            continue  # released while we listed
        except UnsafePath as exc:  # someone else could have written it: not carried out
            problems.append(f"{exc} (lease not carried out)")
        except (OSError, ValidationError) as exc:
            problems.append(f"{path}: unreadable lease: {exc}")
    return found, problems


def delete_lease(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _fsync_dir(path.parent)


def write_heartbeat(run_dir: Path, counter: int) -> None:
    # Not fsynced: it only has to outlive the controller's process, not the machine.
    write_atomic(safety_dir(run_dir) / "heartbeat", f"{counter}\n".encode(), durable=False)


def read_heartbeat(run_dir: Path) -> int | None:
    try:
        return int(read_private(safety_dir(run_dir) / "heartbeat").decode().strip())
    except (OSError, ValueError, UnsafePath):
        return None


def read_controller(run_dir: Path) -> ControllerInfo | None:
    try:
        return ControllerInfo.model_validate_json(
            read_private(safety_dir(run_dir) / "controller.json")
        )
    except (OSError, ValidationError, UnsafePath):
        return None


def same_process(pid: int, create_time: float) -> bool:
    """True when ``pid`` is alive and is the process that started at ``create_time``."""
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 0.05 and proc.status() != "zombie"
    except psutil.Error:
        return False


def controller_alive(run_dir: Path) -> bool:
    info = read_controller(run_dir)
    return info is not None and same_process(info.pid, info.create_time)


def append_journal(run_dir: Path, event: str, **fields: object) -> None:
    """One JSON line in ``run_dir/journal.jsonl``, in the engine journal's format."""
    record: dict[str, object] = {
        "event": event,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "monotonic_ns": time.monotonic_ns(),
        **fields,
    }
    line = (json.dumps(record, default=str) + "\n").encode()
    # O_APPEND and one write(2) per line: lines from the engine and watchdog never interleave.
    append_private(run_dir / "journal.jsonl", line)


def actions_json(actions: Sequence[RevertAction]) -> list[dict[str, object]]:
    return [a.model_dump(mode="json") for a in actions]
