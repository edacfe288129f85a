"""The run journal: one JSON object per line, written as things happen.

The journal is the run's evidence trail: every injection, revert and verdict with its
wall-clock and monotonic timestamps. Lines are appended and flushed to disk one by one so
that a crash leaves a readable journal behind; the watchdog appends to the same file.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from chaos_workbench.host.private import UnsafePath, make_private_dir

__all__ = ["Journal"]

JsonScalar = str | int | float | bool | None


class Journal:
    """Append-only JSON-lines file (``run_dir/journal.jsonl``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        make_private_dir(path.parent)
        # O_APPEND: each line is one write(2), so lines from the watchdog never interleave.
        # Private (0600, no symlink followed): the watchdog appends to it as well.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self._fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise UnsafePath(f"{path}: cannot be opened: {exc.strerror or exc}") from exc

    def write(self, event: str, **fields: JsonScalar | list[JsonScalar]) -> None:
        record = {
            "event": event,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "monotonic_ns": time.monotonic_ns(),
            **fields,
        }
        os.write(self._fd, (json.dumps(record, sort_keys=False) + "\n").encode())
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
