"""Shared machinery of the demo's dependency launchers (``python -m chaos_workbench.demo.*``).

Each launcher runs in the foreground so the workbench's supervisor can signal and restart
it. Servers that exit cleanly on SIGTERM (Valkey, NATS) are ``exec``-ed, so the supervised
pid *is* the server. PostgreSQL needs a parent (see ``postgres_server``): it gets a child
that dies with its parent (:func:`~chaos_workbench.host.spawn.die_with_parent`), so a
SIGKILL of the launcher takes the database down too, as a "kill db" experiment means.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

__all__ = ["find_executable"]


def find_executable(name: str) -> Path:
    """A binary installed into this environment's scripts dir (e.g. ``nats-server``)."""
    candidates = [Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        f"{name} not found in {candidates[0].parent}; install the demo extra: "
        "pip install 'chaos-workbench[demo]'"
    )
