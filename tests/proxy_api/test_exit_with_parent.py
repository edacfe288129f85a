"""`cwb proxy serve --exit-with-parent PID`: an embedded server (a Chaos Toolkit run's, a
pytest session's) stops by itself when the process that started it is killed with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from chaos_workbench.host.spawn import port_open, process_running

# A parent that starts the server as its child, says the child's pid, and waits.
_PARENT = """
import os, subprocess, sys, time
port_file = sys.argv[1]
child = subprocess.Popen([sys.executable, "-m", "chaos_workbench.proxy.cli", "serve",
    "--port", "0", "--port-file", port_file, "--exit-with-parent", str(os.getpid())],
    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(120)
"""


def _wait(check: Callable[[], object], timeout_s: float) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, "condition not reached"
        time.sleep(0.02)
    return time.monotonic() - start


def test_the_server_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    port_file = tmp_path / "api.port"
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(port_file)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    try:
        _wait(lambda: port_file.exists() and port_file.read_text().strip(), 30)
        host, _, port = port_file.read_text().strip().rpartition(":")
        assert port_open(host, int(port))
        time.sleep(0.5)  # the server must not stop while its parent lives (a few polls)
        assert process_running(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        took = _wait(lambda: not process_running(server_pid), 5)
        assert took < 2.0  # polled every 0.2 s, then a clean shutdown
        assert not port_open(host, int(port))
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        parent.stdout.close()
        if process_running(server_pid):
            os.kill(server_pid, signal.SIGKILL)
