"""Every revert action does its job once and is harmless the second time (idempotency)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psutil
import pytest

from chaos_workbench.host import cgroups as cg
from chaos_workbench.safety.actions import (
    DeletePath,
    KillProcess,
    KillTagged,
    RemoveCgroup,
    RemoveToxic,
    SetProxyEnabled,
    SignalProcess,
    ThawCgroup,
)
from chaos_workbench.safety.executor import execute


class _Toxiproxy(BaseHTTPRequestHandler):
    """Just enough of the Toxiproxy API: one toxic that can be deleted once."""

    toxics: ClassVar[set[str]] = {"lat"}
    enabled: ClassVar[list[bool]] = []

    def do_DELETE(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        found = name in self.toxics
        self.toxics.discard(name)
        self.send_response(204 if found else 404)
        self.end_headers()

    def do_POST(self) -> None:
        self.enabled.append(b"true" in self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Toxiproxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def _sleeper(**env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, **env},
        start_new_session=True,
    )


def test_remove_toxic_and_enable_proxy_are_idempotent(api: str) -> None:
    action = RemoveToxic(api_url=api, proxy="db", toxic="lat")
    first, second = execute(action), execute(action)
    assert first.ok
    assert first.detail == "removed toxic lat on db"
    assert second.ok  # 404: already gone counts as done
    assert "already gone" in second.detail
    assert execute(SetProxyEnabled(api_url=api, proxy="db")).ok
    assert _Toxiproxy.enabled == [True]


def test_signal_and_kill_guard_against_pid_reuse() -> None:
    proc = _sleeper()
    info = psutil.Process(proc.pid)
    started = info.create_time()
    try:
        stop = SignalProcess(pid=proc.pid, create_time=started, signal=signal.SIGSTOP)
        assert execute(stop).ok
        _until(lambda: info.status() == psutil.STATUS_STOPPED)  # delivery is asynchronous
        cont = SignalProcess(pid=proc.pid, create_time=started, signal=signal.SIGCONT)
        assert execute(cont).ok
        _until(lambda: info.status() != psutil.STATUS_STOPPED)
        # the same pid with another start time is another process: not touched
        stranger = KillProcess(pid=proc.pid, create_time=started - 100)
        assert "already gone" in execute(stranger).detail
        assert proc.poll() is None
        kill = KillProcess(pid=proc.pid, create_time=started)
        assert execute(kill).detail == f"killed pid {proc.pid}"
        assert proc.wait(5) == -signal.SIGKILL
        assert "already gone" in execute(kill).detail
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_kill_tagged_finds_helpers_by_their_environment() -> None:
    tag = "cwb-test-" + os.urandom(4).hex()
    tagged, untagged = _sleeper(CWB_FAULT_TAG=tag), _sleeper()
    try:
        outcome = execute(KillTagged(tag=tag))
        assert outcome.ok
        assert str(tagged.pid) in outcome.detail
        tagged.wait(5)  # (may already be reaped by kill_tagged's wait: then returncode 0)
        assert not psutil.pid_exists(tagged.pid)
        assert untagged.poll() is None
        assert execute(KillTagged(tag=tag)).detail == "no tagged process"
    finally:
        for proc in (tagged, untagged):
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)


def test_delete_path_file_and_directory(tmp_path: Path) -> None:
    fill = tmp_path / "fill"
    fill.write_bytes(b"x" * 1000)
    folder = tmp_path / "dir"
    (folder / "sub").mkdir(parents=True)
    for path in (fill, folder):
        assert execute(DeletePath(path=str(path))).ok
        assert not path.exists()
        assert "already gone" in execute(DeletePath(path=str(path))).detail


def test_thaw_and_remove_cgroup_kill_what_is_inside() -> None:
    try:
        group = cg.create("freezer", f"cwb-test-exec-{os.getpid()}")
    except cg.CgroupUnavailable as exc:
        pytest.skip(f"no freezer cgroup here: {exc}")
    proc = _sleeper()
    try:
        cg.add_pid(group, proc.pid)
        cg.freeze(group)
        thaw = ThawCgroup(path=str(group.path), version=group.version)
        assert execute(thaw).ok
        _until(lambda: psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED)
        cg.freeze(group)  # removing a frozen group must still kill its processes
        remove = RemoveCgroup(path=str(group.path))
        assert execute(remove).ok
        assert proc.wait(5) == -signal.SIGKILL
        assert not group.path.exists()
        assert "already gone" in execute(remove).detail
        assert execute(thaw).ok  # thawing a group that is gone is fine
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        cg.remove(group)


def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
