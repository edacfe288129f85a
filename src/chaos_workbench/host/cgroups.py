"""Linux control groups, v1 and v2: find, create, limit, freeze and remove them.

The supervisor puts processes into cgroups (a memory limit, a freezer, a CPU group) and the
resource faults act inside a target's cgroups. Both hierarchies are supported: cgroup v2
(one unified tree; freezing is built into every non-root group, other controllers only when
listed in ``cgroup.controllers``) and cgroup v1 (one tree per controller). Where a
controller is mounted both ways, v1 wins for it because that is where it is enabled.

Everything here is blocking file I/O on pseudo-files; each call is microseconds, so the
async callers use it directly, except the bounded waits, which the callers run in threads.

Exceptions::

    CgroupUnavailable (HostError)    the machine does not let us use the controller
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chaos_workbench.host import HostError

__all__ = [
    "Cgroup",
    "CgroupUnavailable",
    "Controller",
    "add_pid",
    "at",
    "create",
    "freeze",
    "memory_limit_bytes",
    "memory_usage_bytes",
    "of_process",
    "pids",
    "remove",
    "thaw",
    "unavailable_reason",
]

Controller = Literal["memory", "cpu", "freezer"]

# v1 reports "no limit" as a page-aligned LONG_MAX; anything this large means unlimited.
_UNLIMITED_BYTES = 1 << 60


class CgroupUnavailable(HostError):
    """The machine does not let us use this cgroup controller (the message says why)."""


@dataclass(frozen=True)
class Cgroup:
    """One cgroup directory and the hierarchy version it belongs to."""

    path: Path
    version: Literal[1, 2]


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of every cgroup mount."""
    found = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                found.append((parts[1], parts[2], set(parts[3].split(","))))
    return found


def _v1_root(controller: str) -> Path | None:
    for mount, fstype, options in _mounts():
        if fstype == "cgroup" and controller in options:
            return Path(mount)
    return None


def _v2_root() -> Path | None:
    for mount, fstype, _ in _mounts():
        if fstype == "cgroup2":
            return Path(mount)
    return None


def _v2_has(root: Path, controller: Controller) -> bool:
    if controller == "freezer":  # cgroup.freeze exists in every non-root v2 group
        return True
    try:
        return controller in (root / "cgroup.controllers").read_text().split()
    except OSError:
        return False


def _root(controller: Controller, version: int | None) -> Cgroup:
    if version in (None, 1):
        v1 = _v1_root(controller)
        if v1 is not None:
            return Cgroup(v1, 1)
    if version in (None, 2):
        v2 = _v2_root()
        if v2 is not None and _v2_has(v2, controller):
            return Cgroup(v2, 2)
    wanted = f"cgroup v{version}" if version else "cgroup v1 or v2"
    raise CgroupUnavailable(f"no {wanted} hierarchy with the {controller!r} controller is mounted")


def create(
    controller: Controller, name: str, *, version: int | None = None, memory_limit_bytes: int = 0
) -> Cgroup:
    """Create (or reuse) the cgroup ``name`` for ``controller``; set a memory limit if given."""
    root = _root(controller, version)
    path = root.path / name
    try:
        path.mkdir(exist_ok=True)
        if memory_limit_bytes > 0:
            limit_file = "memory.limit_in_bytes" if root.version == 1 else "memory.max"
            (path / limit_file).write_text(str(memory_limit_bytes))
    except OSError as exc:
        raise CgroupUnavailable(f"cannot create {path}: {exc.strerror or exc}") from exc
    return Cgroup(path, root.version)


def unavailable_reason(controller: Controller) -> str | None:
    """Why :func:`create` would fail for ``controller`` here, or None when it may work.

    Read-only: the hierarchy must be mounted and its root writable by us (creating a
    cgroup under a v1 controller, or outside a delegated v2 subtree, needs root).
    """
    try:
        root = _root(controller, None)
    except CgroupUnavailable as exc:
        return str(exc)
    if not os.access(root.path, os.W_OK):
        return f"creating a cgroup under {root.path} needs root (this user cannot write there)"
    return None


def at(path: str | Path) -> Cgroup:
    """The cgroup at ``path``, with its version told by the hierarchy it is mounted in."""
    path = Path(path)
    v2 = _v2_root()
    version: Literal[1, 2] = 2 if v2 is not None and path.is_relative_to(v2) else 1
    return Cgroup(path, version)


def of_process(pid: int, controller: Controller) -> Cgroup | None:
    """The cgroup a process is in for ``controller``; None when it is the root or unknown."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if rel == "/":
            continue
        if controllers == "":
            root = _v2_root()
            if root is not None and _v2_has(root, controller) and _v1_root(controller) is None:
                return Cgroup(root / rel.lstrip("/"), 2)
        elif controller in controllers.split(","):
            root = _v1_root(controller)
            if root is not None:
                return Cgroup(root / rel.lstrip("/"), 1)
    return None


def memory_limit_bytes(group: Cgroup) -> int | None:
    """The memory limit of ``group`` in bytes, or None when it has none."""
    name = "memory.limit_in_bytes" if group.version == 1 else "memory.max"
    try:
        text = (group.path / name).read_text().strip()
    except OSError:
        return None
    if text == "max" or int(text) >= _UNLIMITED_BYTES:
        return None
    return int(text)


def memory_usage_bytes(group: Cgroup) -> int:
    name = "memory.usage_in_bytes" if group.version == 1 else "memory.current"
    return int((group.path / name).read_text().strip())


def add_pid(group: Cgroup, pid: int) -> None:
    """Move a process into ``group`` (its future children follow it)."""
    try:
        (group.path / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        raise CgroupUnavailable(f"cannot move pid {pid} into {group.path}: {exc}") from exc


def pids(group: Cgroup) -> list[int]:
    try:
        return [int(p) for p in (group.path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _set_frozen(group: Cgroup, frozen: bool) -> None:
    if group.version == 1:
        (group.path / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
    else:
        (group.path / "cgroup.freeze").write_text("1" if frozen else "0")


def _is_frozen(group: Cgroup) -> bool:
    if group.version == 1:
        return (group.path / "freezer.state").read_text().strip() == "FROZEN"
    events = (group.path / "cgroup.events").read_text()
    return "frozen 1" in events


def freeze(group: Cgroup, *, timeout_s: float = 5.0) -> None:
    """Freeze every process in ``group`` and wait until the kernel says it is frozen."""
    try:
        _set_frozen(group, True)
        deadline = time.monotonic() + timeout_s
        while not _is_frozen(group):
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"{group.path} did not freeze within {timeout_s} s")
            time.sleep(0.01)
    except OSError as exc:
        raise CgroupUnavailable(f"cannot freeze {group.path}: {exc}") from exc


def thaw(group: Cgroup) -> None:
    """Thaw ``group``; a group that is gone or not frozen is fine."""
    with contextlib.suppress(FileNotFoundError):
        _set_frozen(group, False)


def remove(group: Cgroup, *, timeout_s: float = 5.0) -> None:
    """Kill what is left in ``group``, then remove it. A missing group is fine."""
    if not group.path.exists():
        return
    if group.path.parent == group.path or group.path in {Path("/sys/fs/cgroup")}:
        raise CgroupUnavailable(f"refusing to remove cgroup root {group.path}")
    # A frozen task only dies once thawed, so thaw before killing.
    with contextlib.suppress(OSError):
        thaw(group)
    deadline = time.monotonic() + timeout_s
    while True:
        members = pids(group)
        if not members:
            break
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise CgroupUnavailable(f"{group.path} still has processes {members} after SIGKILL")
        time.sleep(0.01)
    # rmdir can briefly fail with EBUSY while the kernel finishes tearing tasks down.
    while True:
        try:
            group.path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
