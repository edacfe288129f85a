"""New demo data directories are copies of one template cluster, initialised once.

The cluster here is a stand-in written by ``initialise`` (the real ``initdb`` path is run
by ``test_run_demo.py`` and the parallel demo): what is tested is the copy, the lock and
the permissions, on the real filesystem.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from chaos_workbench.demo.pg_template import clone_from_template


def test_concurrent_starts_initialise_the_template_once(tmp_path: Path) -> None:
    calls: list[Path] = []

    def initialise(path: Path) -> None:
        if (path / "PG_VERSION").exists():
            return
        calls.append(path)
        time.sleep(0.2)  # a slow initdb: the others must wait for it, not start their own
        (path / "base").mkdir()
        (path / "base" / "1").write_text("rows")
        (path / "PG_VERSION").write_text("18\n")

    dirs = [tmp_path / f"pg-{i}" for i in range(4)]
    for directory in dirs:
        directory.mkdir(mode=0o755)
    threads = [
        threading.Thread(
            target=clone_from_template,
            args=(directory, tmp_path / "pg-template"),
            kwargs={"initialise": initialise, "owner": (None, None)},
        )
        for directory in dirs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert calls == [tmp_path / "pg-template"]
    for directory in dirs:
        assert (directory / "base" / "1").read_text() == "rows"
        assert (directory.stat().st_mode & 0o777) == 0o700


def test_an_existing_cluster_is_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    data.mkdir()
    (data / "PG_VERSION").write_text("18\n")
    (data / "mine").write_text("keep")

    def initialise(path: Path) -> None:
        raise AssertionError("no template is needed for an existing cluster")

    assert not clone_from_template(data, tmp_path / "t", initialise=initialise, owner=(None, None))
    assert (data / "mine").read_text() == "keep"
