"""Real demo servers on ephemeral loopback ports, started as the supervisor would start them.

Session-scoped servers are shared by tests that only read and write; tests that stop or
kill a server start their own (``demo_helpers.start_demo_server``).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from demo_helpers import Stack, start_stack, stop_all

from chaos_workbench.demo.postgres_server import shared_temp_dir


@contextlib.contextmanager
def _private_tmp() -> Iterator[Path]:
    # Not pytest's tmp_path: as root, PostgreSQL runs as an unprivileged user who must be
    # able to enter it, and pytest's base directory is 0700. The launcher's own helper
    # makes one that user can enter, without touching any other directory's permissions.
    path = shared_temp_dir("cwb-demo-test-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def demo_tmp() -> Iterator[Path]:
    """A temporary directory the demo's PostgreSQL user can use."""
    with _private_tmp() as path:
        yield path


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Shared dependencies for tests that do not stop them."""
    with _private_tmp() as base:
        running = start_stack(base)
        yield running
        stop_all(running.servers)
