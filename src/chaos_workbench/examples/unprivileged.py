"""Run a command as an unprivileged user when started as root; as itself otherwise.

    python -m chaos_workbench.examples.unprivileged pgbouncer pgbouncer.ini

PgBouncer refuses to run as root, and an nginx master that is not root needs no ``user``
directive (its workers simply run as the caller). As root, this launcher drops to the user
``nobody`` (group ``nogroup``, no supplementary groups) and then *execs* the command, so
the supervised pid is the server itself and a ``process_kill`` kills the server. The files
the server reads must be readable by that user (``cwb example`` prepares its directory so).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sys
from collections.abc import Sequence

__all__ = ["USER", "main", "run_as_ids"]

USER = "nobody"
GROUP = "nogroup"


def run_as_ids() -> tuple[int, int] | None:
    """(uid, gid) to drop to when root, else None."""
    if os.geteuid() != 0:
        return None
    uid = pwd.getpwnam(USER).pw_uid
    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        gid = pwd.getpwnam(USER).pw_gid
    return uid, gid


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m chaos_workbench.examples.unprivileged COMMAND [ARG...]")
        return 2
    program = shutil.which(args[0], path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if program is None:
        print(f"unprivileged: {args[0]}: command not found", file=sys.stderr)
        return 127
    ids = run_as_ids()
    if ids is not None:
        uid, gid = ids
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        try:
            # Reachable by its path? (A directory inside a 0700 home or mktemp -d is not:
            # "." still works, but HAProxy goes back to it by path, and refuses to start.)
            os.chdir(os.getcwd())
        except OSError:
            os.chdir("/")  # the servers are given absolute paths
    os.execv(program, [program, *args[1:]])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
