"""Private directories and files: what only the user who runs the workbench may write.

The files a run leaves in its run directory are *instructions*: the watchdog, ``cwb
cleanup`` and the next run carry out its leases and stop what its records name, often as
root. So nobody else may be able to write them. The rules, enforced here:

* directories are created with mode 0700 (each missing parent too); an existing one is
  accepted only if it is a real directory (not a symlink), owned by the current user, and
  not writable by group or others;
* files are written 0600 through a temporary file opened with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` and renamed into place, so a planted symlink is never followed;
* files are read with ``O_NOFOLLOW`` and accepted only when they are regular files owned
  by the current user and not writable by group or others.

Each refusal raises :class:`UnsafePath`, saying which path and why.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from chaos_workbench.host import HostError

__all__ = [
    "UnsafePath",
    "append_private",
    "check_private_dir",
    "make_private_dir",
    "read_private",
    "write_private",
]

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class UnsafePath(HostError):
    """A path the workbench must not trust or write through (owner, mode, symlink)."""


def _check_owner_and_mode(path: Path, st: os.stat_result, what: str) -> None:
    me = os.geteuid()
    if st.st_uid != me:
        raise UnsafePath(
            f"{path}: refused: the {what} is owned by uid {st.st_uid}, not by you (uid {me})"
        )
    if st.st_mode & _WRITABLE_BY_OTHERS:
        raise UnsafePath(
            f"{path}: refused: the {what} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); only its owner may write it"
        )


def check_private_dir(path: Path) -> None:
    """UnsafePath unless ``path`` is a real directory, ours, not writable by others."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafePath(f"{path}: cannot be checked: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path}: refused: not a directory (a symlink or a file)")
    _check_owner_and_mode(path, st, "directory")


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700, or check the one that is there."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # made meanwhile by a concurrent run: checked below like any other
        except OSError as exc:
            raise UnsafePath(f"{directory}: cannot be created: {exc.strerror or exc}") from exc
    check_private_dir(path)
    return path


def write_private(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (mode 0600), atomically, never through a symlink."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a stale one of ours (a crash mid-write), or a planted link: not opened
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)  # rename replaces a symlink at ``path`` itself, never its target
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_private(path: Path) -> bytes:
    """The content of ``path`` if it is a regular file of ours that nobody else may write.

    Raises FileNotFoundError when it is missing and :class:`UnsafePath` when it is a
    symlink, not a regular file, someone else's, or group/other-writable.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        if os.path.islink(path):
            raise UnsafePath(f"{path}: refused: a symlink") from exc
        raise UnsafePath(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{path}: refused: not a regular file")
        _check_owner_and_mode(path, st, "file")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` with one write(2) (lines from several writers never interleave)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePath(f"{path}: refused: a symlink") from exc
        raise
    try:
        _check_owner_and_mode(path, os.fstat(fd), "file")
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
