"""A new PostgreSQL data directory copied from a template cluster instead of ``initdb``.

``initdb`` plus the seeded schema costs seconds of CPU; a parallel demo run starts one
database per copy of the system, all at once, on the same cores. With ``--template DIR``
the first server to start initialises DIR (under a lock, so the others wait for it rather
than run ``initdb`` beside it) and every new data directory is a copy of it. The template
is never run as a server (``initdb`` and single-user mode both exit), so a plain file copy
is a consistent cluster.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["clone_from_template"]


def clone_from_template(
    data_dir: Path,
    template: Path,
    *,
    initialise: Callable[[Path], None],
    owner: tuple[int | None, int | None],
) -> bool:
    """Fill the empty ``data_dir`` with a copy of ``template`` (initialised first by
    ``initialise`` when it is not yet). False when ``data_dir`` already holds a cluster."""
    if (data_dir / "PG_VERSION").exists():
        return False
    uid, gid = owner
    template.mkdir(parents=True, exist_ok=True)
    with template.with_name(template.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on a crash
        initialise(template)
    for leftover in data_dir.iterdir():  # a half-finished earlier attempt: start over
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    shutil.copytree(template, data_dir, symlinks=True, dirs_exist_ok=True)
    if uid is not None:  # as root: the server's user owns the copy, as it owns the template
        for root, dirs, files in os.walk(data_dir):
            for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
                os.lchown(name, uid, gid if gid is not None else -1)
    data_dir.chmod(0o700)  # PostgreSQL refuses a data directory others can read
    return True
