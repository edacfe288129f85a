"""Can another user reach a path? Computed from the mode bits, before anything is started.

A server that refuses to run as root (PostgreSQL) runs as an unprivileged user, who must be
able to enter every directory on the way to its files. Root can enter anything, so the
question cannot be answered by trying as root; it is answered here from ``st_mode``, the
owner and the group of each directory, the way the kernel decides for that user. POSIX
ACLs are not read: a directory that an ACL opens is reported as blocked (a refusal with a
clear message, never a silent failure later).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["blocked_directory", "can_enter"]


def can_enter(path: Path, uid: int, gids: frozenset[int]) -> bool:
    """True when a process with ``uid`` and groups ``gids`` may search the directory ``path``."""
    try:
        st = path.stat()
    except OSError:
        return False
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def blocked_directory(path: Path, uid: int, gids: frozenset[int]) -> Path | None:
    """The first existing directory on the way to ``path`` (itself included, if it exists)
    that the user cannot enter; None when the whole way is open."""
    resolved = Path(os.path.abspath(path))
    for directory in (*reversed(resolved.parents), resolved):
        if not directory.exists():
            return None  # the rest will be created (by whoever creates it, with its modes)
        if directory.is_dir() and not can_enter(directory, uid, gids):
            return directory
    return None
