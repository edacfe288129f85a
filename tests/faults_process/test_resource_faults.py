"""cpu_pressure, memory_pressure, disk_fill, io_stress and clock_skew, measured for real."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from chaos_workbench.faults import FaultContext, FaultError, FaultRefused
from chaos_workbench.faults.clock_skew import ClockSkew, ClockSkewParams, find_libfaketime
from chaos_workbench.faults.cpu_pressure import CpuPressure, CpuPressureParams
from chaos_workbench.faults.disk_fill import DiskFill, DiskFillParams
from chaos_workbench.faults.io_stress import IoStress, IoStressParams
from chaos_workbench.faults.memory_pressure import MemoryPressure, MemoryPressureParams
from chaos_workbench.host import cgroups as cg
from chaos_workbench.processes import Supervisor
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec
from chaos_workbench.safety.actions import DeletePath, KillTagged

Until = Callable[..., Awaitable[None]]
MakeCtx = Callable[..., FaultContext]
Tagged = Callable[[str], list[int]]
MIB = 1024 * 1024
SLEEPER = (sys.executable, "-c", "print('up', flush=True); import time; time.sleep(120)")


def _schedstat(pids: list[int]) -> tuple[int, int, int]:
    """(ns on CPU, ns waiting in the run queue) summed over pids, and the monotonic ns."""
    run = wait = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
        run, wait = run + int(fields[0]), wait + int(fields[1])
    return run, wait, time.monotonic_ns()


def _cpu_percent_of(pids: list[int], window_s: float = 1.0) -> float:
    """CPU used by these processes over a window, in % of one core."""
    procs = [psutil.Process(p) for p in pids]
    before = [p.cpu_times() for p in procs]
    time.sleep(window_s)
    after = [p.cpu_times() for p in procs]
    used = sum(
        (a.user + a.system) - (b.user + b.system) for a, b in zip(after, before, strict=True)
    )
    return 100 * used / window_s


async def test_cpu_pressure_reaches_the_requested_load_and_stops_at_once(
    make_ctx: MakeCtx, tagged_pids: Tagged, wait_until: Until
) -> None:
    fault = CpuPressure(CpuPressureParams(workers=1, load_pct=60), make_ctx())
    assert fault.revert_actions() == (KillTagged(tag=fault.tag),)
    await fault.apply()
    try:
        helper_pids = tagged_pids(fault.tag)
        assert len(helper_pids) == 2  # the helper and its one worker
        before = _schedstat(helper_pids)
        measured = _cpu_percent_of(helper_pids, 1.5)
        after = _schedstat(helper_pids)
        # Wanting the CPU (running or waiting in the run queue) is what the duty cycle
        # sets, whatever the load: ~60 % of the time. What it gets depends on the
        # neighbours on this shared 2-core box, so the CPU it burns has a loose floor.
        wanted_pct = 100 * (after[0] - before[0] + after[1] - before[1]) / (after[2] - before[2])
        assert 45 <= wanted_pct <= 80, wanted_pct
        assert 15 <= measured <= 80, measured
    finally:
        await fault.revert()
    assert tagged_pids(fault.tag) == []  # stopped at once: revert waits for the kill
    await fault.revert()  # idempotent


async def test_cpu_pressure_inside_the_targets_cpu_cgroup_obeys_its_quota(
    run_dir: Path, make_ctx: MakeCtx, tagged_pids: Tagged
) -> None:
    spec = ProcessSpec(name="app", command=SLEEPER, ready=ReadinessSpec(log_line="up"))
    async with Supervisor([spec], run_dir=run_dir) as sup:
        group = sup.cgroup_paths("app").get("cpu")
        if group is None or group.version != 1:
            pytest.skip("no cgroup v1 CPU controller to set a quota on here")
        (group.path / "cpu.cfs_quota_us").write_text("20000")  # 20 % of one core
        fault = CpuPressure(CpuPressureParams(workers=2, process="app"), make_ctx(sup))
        await fault.apply()
        try:
            pids = tagged_pids(fault.tag)
            assert all(cg.of_process(p, "cpu") == group for p in pids)
            measured = _cpu_percent_of(pids, 1.5)
            assert measured <= 30, measured  # two 100 % workers held to the 20 % quota
            stat = dict(line.split() for line in (group.path / "cpu.stat").read_text().splitlines())
            assert int(stat["nr_throttled"]) > 0  # the kernel did hold them back
        finally:
            await fault.revert()


async def test_memory_pressure_fills_the_targets_cgroup_and_frees_it(
    run_dir: Path, make_ctx: MakeCtx, tagged_pids: Tagged
) -> None:
    spec = ProcessSpec(
        name="app", command=SLEEPER, ready=ReadinessSpec(log_line="up"), memory_limit_mb=256
    )
    async with Supervisor([spec], run_dir=run_dir) as sup:
        group = sup.cgroup_paths("app").get("memory")
        if group is None:
            pytest.skip(f"no memory cgroup on this machine: {sup.notes}")
        base = cg.memory_usage_bytes(group)
        fault = MemoryPressure(MemoryPressureParams(process="app", percent=50), make_ctx(sup))
        fault.preflight()
        await fault.apply()
        try:
            held = cg.memory_usage_bytes(group) - base
            assert 120 * MIB <= held <= 200 * MIB, held / MIB  # 50 % of 256 MB, touched
            assert "holding 128 MB" in fault.describe()
        finally:
            await fault.revert()
        assert tagged_pids(fault.tag) == []
        assert cg.memory_usage_bytes(group) - base < 30 * MIB
        await fault.revert()


async def test_memory_floor_refuses_or_caps_with_a_message(
    run_dir: Path, make_ctx: MakeCtx, tagged_pids: Tagged
) -> None:
    total_mb = psutil.virtual_memory().total // MIB
    too_much = MemoryPressure(MemoryPressureParams(size_mb=total_mb), make_ctx())
    with pytest.raises(FaultRefused, match="10 % floor of free memory"):
        too_much.preflight()
    with pytest.raises(FaultRefused, match="floor"):
        await too_much.apply()
    assert tagged_pids(too_much.tag) == []  # refused before anything was started
    # a floor that leaves ~64 MB of room: a 100 GB request is capped to it
    memory = psutil.virtual_memory()
    floor_pct = 100 * (memory.available - 64 * MIB) / memory.total
    capped = MemoryPressure(
        MemoryPressureParams(size_mb=100_000, floor_free_pct=floor_pct, on_floor="cap"),
        make_ctx(),
    )
    await capped.apply()
    try:
        assert capped.size_bytes is not None
        assert capped.size_bytes <= 100 * MIB
        assert "capped to" in capped.describe()
    finally:
        await capped.revert()
    spec = ProcessSpec(name="app", command=SLEEPER, ready=ReadinessSpec(log_line="up"))
    async with Supervisor([spec], run_dir=run_dir, cgroup_version=2) as sup:
        unlimited = MemoryPressure(MemoryPressureParams(process="app", percent=50), make_ctx(sup))
        with pytest.raises(FaultError, match=r"no memory limit.*size_mb"):
            await unlimited.apply()


async def test_disk_fill_writes_then_deletes_and_keeps_the_floor(
    run_dir: Path, make_ctx: MakeCtx
) -> None:
    fault = DiskFill(DiskFillParams(path=str(run_dir), size_mb=8), make_ctx())
    fault.preflight()
    assert DeletePath(path=str(fault.file)) in fault.revert_actions()
    await fault.apply()
    assert fault.file.stat().st_size == 8 * MIB
    assert fault.file.stat().st_blocks * 512 >= 8 * MIB  # really allocated, not sparse
    await fault.revert()
    assert not fault.file.exists()
    await fault.revert()

    with pytest.raises(FaultRefused, match="5 % floor of free space"):
        DiskFill(DiskFillParams(path=str(run_dir), percent=99.5), make_ctx()).preflight()
    stat = os.statvfs(run_dir)
    total, free = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
    floor_pct = 100 * (free - 48 * MIB) / total  # leaves ~48 MB of room
    capped = DiskFill(
        DiskFillParams(
            path=str(run_dir), size_mb=10_000_000, floor_free_pct=floor_pct, on_floor="cap"
        ),
        make_ctx(),
    )
    await capped.apply()
    try:
        assert capped.file.stat().st_size <= 100 * MIB
        assert "capped to" in capped.describe()
    finally:
        await capped.revert()
    assert not capped.file.exists()


def test_disk_fill_outside_the_blast_radius_is_refused(run_dir: Path, make_ctx: MakeCtx) -> None:
    with pytest.raises(FaultRefused, match="outside the blast radius"):
        DiskFill(DiskFillParams(path="/etc", size_mb=1), make_ctx()).preflight()
    # allowed once listed
    DiskFill(
        DiskFillParams(path=str(run_dir.parent), size_mb=1), make_ctx(paths=(run_dir.parent,))
    ).preflight()


async def test_io_stress_writes_with_fsync_and_cleans_up(
    run_dir: Path, make_ctx: MakeCtx, tagged_pids: Tagged, wait_until: Until
) -> None:
    fault = IoStress(IoStressParams(path=str(run_dir), rate_per_s=50, block_kb=16), make_ctx())
    fault.preflight()
    await fault.apply()
    try:
        await wait_until(lambda: fault.file.exists() and fault.file.stat().st_size >= 10 * 16384)
        (pid,) = tagged_pids(fault.tag)
        assert psutil.Process(pid).io_counters().write_bytes > 0
    finally:
        await fault.revert()
    assert tagged_pids(fault.tag) == []
    assert not fault.file.exists()


@pytest.mark.skipif(
    find_libfaketime() is None, reason="libfaketime missing: run .ci/install-system-deps.sh"
)
async def test_clock_skew_shows_in_the_childs_date(run_dir: Path, make_ctx: MakeCtx) -> None:
    out = run_dir / "now.txt"
    spec = ProcessSpec(
        name="clock",
        # `date` shows the offset; then a Python loop of sleeps must keep working under it
        command=(
            "/bin/sh",
            "-c",
            f"date +%s > {out}.tmp && mv {out}.tmp {out} && exec {sys.executable} -c "
            "'import time; [time.sleep(0.02) for _ in range(6000)]'",
        ),
        ready=ReadinessSpec(command=("test", "-s", str(out))),
    )
    async with Supervisor([spec], run_dir=run_dir) as sup:
        fault = ClockSkew(ClockSkewParams(process="clock", offset_s=86400), make_ctx(sup))
        fault.preflight()
        out.unlink()
        await fault.apply()
        skewed = int(out.read_text()) - time.time()
        assert abs(skewed - 86400) < 30, skewed
        skewed_pid = sup.pid("clock")
        assert skewed_pid is not None
        await _observe(0.3)
        assert sup.pid("clock") == skewed_pid  # its sleeps work under libfaketime
        out.unlink()
        await fault.revert()
        assert abs(int(out.read_text()) - time.time()) < 30
        pid = sup.pid("clock")
        await fault.revert()  # idempotent: no second restart
        assert sup.pid("clock") == pid


async def _observe(seconds: float) -> None:
    """An observation window (the process must survive it), not a synchronisation."""
    await asyncio.sleep(seconds)


def test_clock_skew_without_libfaketime_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, make_ctx: MakeCtx
) -> None:
    import chaos_workbench.faults.clock_skew as module

    monkeypatch.setattr(module, "_CANDIDATES", ())
    monkeypatch.delenv("CWB_LIBFAKETIME", raising=False)
    fault = ClockSkew(ClockSkewParams(process="x", offset_s=5), make_ctx())
    with pytest.raises(FaultError, match="apt-get install -y faketime"):
        fault.preflight()


async def test_a_helper_ends_by_itself_after_its_lifetime(tagged_pids: Tagged) -> None:
    """The last line of defence if every revert path failed: helpers expire."""
    from chaos_workbench.faults._helpers import lifetime_s, new_tag, spawn_helper, stop_helper

    assert lifetime_s(10) == 80
    assert lifetime_s(None) == 3600
    tag = new_tag("test")
    helper = await spawn_helper("cpu", ["--workers", "1", "--load-pct", "10"], tag=tag, max_s=0.5)
    try:
        assert await asyncio.wait_for(helper.process.wait(), 10) == 0
        deadline = time.monotonic() + 5
        while tagged_pids(tag):  # its worker expires on the same bound
            assert time.monotonic() < deadline, "worker still running"
            await asyncio.sleep(0.05)
    finally:
        await stop_helper(helper)
