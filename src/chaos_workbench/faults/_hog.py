"""The helper process behind the resource faults: burn CPU, hold memory, fill disk, write.

Run as a script (``python .../_hog.py MODE ...``), never imported by the controller: it uses
the standard library only, so it starts fast and does not load the workbench. It prints one
line ``ready ...`` on stdout once the pressure is in place, then holds it until killed.

Safety: the parent passes its pid in ``CWB_PARENT_PID``; the helper asks the kernel to
SIGKILL it when that parent dies (``PR_SET_PDEATHSIG``) and exits at once if the parent is
already gone, so a crashed controller cannot leave a hog behind even before the watchdog
acts. Every mode is also bounded by ``--max-s``.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import signal
import sys
import time

_PR_SET_PDEATHSIG = 1
_CHUNK_BYTES = 4 * 1024 * 1024  # memory touched / disk written per step


def _die_with_parent() -> None:
    parent = int(os.environ.get("CWB_PARENT_PID", "0"))
    if not parent:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(3)


def _join_cgroups(dirs: list[str]) -> None:
    for directory in dirs:
        with open(os.path.join(directory, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))


def _ready(detail: str = "") -> None:
    sys.stdout.write(f"ready {detail}\n")
    sys.stdout.flush()


def _hold(max_s: float) -> None:
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _cpu_worker(load_pct: float, period_ms: float, max_s: float) -> None:
    _die_with_parent_of(os.getppid())
    busy_s = period_ms / 1000 * load_pct / 100
    period_s = period_ms / 1000
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        start = time.monotonic()
        while time.monotonic() - start < busy_s:
            pass
        idle_s = period_s - (time.monotonic() - start)
        if idle_s > 0:
            time.sleep(idle_s)


def _die_with_parent_of(parent: int) -> None:
    os.environ["CWB_PARENT_PID"] = str(parent)
    _die_with_parent()


def cpu(args: argparse.Namespace) -> None:
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            try:
                _cpu_worker(args.load_pct, args.period_ms, args.max_s)
            finally:
                os._exit(0)
        children.append(pid)
    _ready(" ".join(str(c) for c in children))
    _hold(args.max_s)


def memory(args: argparse.Namespace) -> None:
    size = args.size_mb * 1024 * 1024
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    block = b"\x5a" * _CHUNK_BYTES
    for offset in range(0, size, _CHUNK_BYTES):  # touch every page so it is really resident
        end = min(offset + _CHUNK_BYTES, size)
        region[offset:end] = block[: end - offset]
    _ready(str(size))
    _hold(args.max_s)


def fill(args: argparse.Namespace) -> None:
    size = args.size_mb * 1024 * 1024
    fd = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, size)  # real blocks, instantly, where the fs supports it
        except OSError:
            block = b"\0" * _CHUNK_BYTES
            for offset in range(0, size, _CHUNK_BYTES):
                os.write(fd, block[: min(_CHUNK_BYTES, size - offset)])
        os.fsync(fd)
    finally:
        os.close(fd)
    _ready(str(size))


def io(args: argparse.Namespace) -> None:
    block = os.urandom(args.block_kb * 1024)
    limit = args.max_size_mb * 1024 * 1024
    interval_s = 1.0 / args.rate_per_s
    fd = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    _ready()
    deadline = time.monotonic() + args.max_s
    next_at = time.monotonic()
    written = 0
    while time.monotonic() < deadline:
        if written + len(block) > limit:  # wrap around: stress I/O, never fill the disk
            os.lseek(fd, 0, os.SEEK_SET)
            written = 0
        os.write(fd, block)
        os.fsync(fd)
        written += len(block)
        next_at += interval_s
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()  # behind: do not burst to catch up


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cwb-hog")
    parser.add_argument("--cgroup", action="append", default=[])
    parser.add_argument("--max-s", type=float, default=3600.0)
    modes = parser.add_subparsers(dest="mode", required=True)
    p_cpu = modes.add_parser("cpu")
    p_cpu.add_argument("--workers", type=int, required=True)
    p_cpu.add_argument("--load-pct", type=float, required=True)
    p_cpu.add_argument("--period-ms", type=float, default=100.0)
    p_mem = modes.add_parser("memory")
    p_mem.add_argument("--size-mb", type=int, required=True)
    p_fill = modes.add_parser("fill")
    p_fill.add_argument("--path", required=True)
    p_fill.add_argument("--size-mb", type=int, required=True)
    p_io = modes.add_parser("io")
    p_io.add_argument("--path", required=True)
    p_io.add_argument("--block-kb", type=int, required=True)
    p_io.add_argument("--rate-per-s", type=float, required=True)
    p_io.add_argument("--max-size-mb", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent()
    _join_cgroups(args.cgroup)
    {"cpu": cpu, "memory": memory, "fill": fill, "io": io}[args.mode](args)


if __name__ == "__main__":
    main()
