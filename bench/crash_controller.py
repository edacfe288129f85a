"""A small controller for crash tests: supervisor + safety net + one fault, phase by phase.

It does what the engine does around a fault, with nothing else in the way::

    setup → apply (lease, apply, lease update) → hold → revert (revert, release) → recovery → done

and writes the name of each phase to ``--phase-file`` as it enters it, so a test or
``bench/crash_test.py`` can kill it (kill -9, SIGSTOP, SIGTERM) at a chosen moment and then
check that the safety net left nothing behind. Two supervised processes live in the run:
``server`` (a TCP server on ``--port``, 128 MB memory limit) and ``counter`` (appends to
``run_dir/count.txt`` every 20 ms). SIGINT/SIGTERM revert and exit 130/143.

    python bench/crash_controller.py RUN_DIR FAULT --port P [--proxy-api URL --proxy NAME]

FAULT is one of: pause, cpu, memory, disk, io, latency, kill, restart, clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

from chaos_workbench.experiments.schema import ProcessSpec, ReadinessSpec
from chaos_workbench.faults import Fault, FaultContext
from chaos_workbench.faults import get as get_fault
from chaos_workbench.host import cgroups as cg
from chaos_workbench.processes import Supervisor
from chaos_workbench.safety import SafetyNet
from chaos_workbench.safety.policy import DeclaredProcess, RevertPolicy

SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""
COUNTER = """
import sys, time
with open(sys.argv[1], "a") as f:
    print("counting", flush=True)
    for n in range(10_000_000):
        f.write(f"{n}\\n"); f.flush(); time.sleep(0.02)
"""


def fault_params(kind: str, run_dir: Path, proxy: str | None) -> dict[str, Any]:
    """The suite-file parameters of each fault kind used in crash trials."""
    return {
        "pause": {"type": "process_pause", "process": "counter"},
        "cpu": {"type": "cpu_pressure", "workers": 1, "load_pct": 50},
        # A share of the server's 128 MB limit where the machine gives it a memory cgroup
        # (as root); otherwise (an ordinary user, who may not enter any memory cgroup) a
        # size held in the host's memory.
        "memory": {"type": "memory_pressure", "process": "server", "percent": 40}
        if cg.unavailable_reason("memory") is None
        else {"type": "memory_pressure", "size_mb": 16},
        "disk": {"type": "disk_fill", "path": str(run_dir), "size_mb": 16},
        "io": {"type": "io_stress", "path": str(run_dir), "rate_per_s": 50, "block_kb": 16},
        "latency": {"type": "latency", "proxy": proxy or "-", "latency_ms": 200},
        "kill": {"type": "process_kill", "process": "server"},
        "restart": {"type": "process_restart", "process": "server", "grace_s": 1},
        "clock": {"type": "clock_skew", "process": "counter", "offset_s": 3600},
    }[kind]


def phase(path: Path, name: str) -> None:
    """Atomically (rename), so a reader never sees half a phase name."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(name + "\n")
    os.replace(tmp, path)


async def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    phase_file = Path(args.phase_file or run_dir / "phase")
    phase(phase_file, "setup")
    specs = [
        ProcessSpec(
            name="server",
            command=(sys.executable, "-c", SERVER, str(args.port)),
            ready=ReadinessSpec(port=args.port, timeout_s=30),
            memory_limit_mb=128,
        ),
        ProcessSpec(
            name="counter",
            command=(sys.executable, "-c", COUNTER, str(run_dir / "count.txt")),
            ready=ReadinessSpec(log_line="counting", timeout_s=30),
        ),
    ]
    proxies = None
    if args.proxy_api:
        from chaos_workbench.proxy.client import ToxiproxyClient

        proxies = ToxiproxyClient(args.proxy_api)
    # What the reverts may touch, as the engine derives it from a suite.
    policy = RevertPolicy(
        allowed_paths=(str(run_dir),),
        proxy_api=args.proxy_api,
        processes=tuple(
            DeclaredProcess(name=s.name, command=s.command) for s in specs if s.command
        ),
    )
    # The net first, as the engine opens it: the processes are started under its watch.
    async with (
        SafetyNet(
            run_dir, renew_every_s=args.renew_s, deadline_s=args.deadline_s, policy=policy
        ) as net,
        Supervisor(specs, run_dir=run_dir) as supervisor,
    ):
        ctx = FaultContext(
            run_dir=run_dir,
            rng=random.Random(1),
            processes=supervisor,
            proxies=proxies,
            protected_pids=(net.watchdog_pid or 0,),
        )
        params = fault_params(args.fault, run_dir, args.proxy)
        fault_cls = get_fault(params["type"])
        fault: Fault[Any] = fault_cls(fault_cls.params_model.model_validate(params), ctx)
        fault.preflight()
        phase(phase_file, "apply")
        lease = net.lease("crash-trial", fault.describe(), fault.revert_actions())
        try:
            await fault.apply()
            lease.update(fault.revert_actions())
            phase(phase_file, "hold")
            await asyncio.sleep(args.hold_s)
            phase(phase_file, "revert")
        finally:
            await fault.revert()
            lease.release()
        phase(phase_file, "recovery")
        for _ in range(600):  # up to 30 s for a restarted server to be back
            if supervisor.pid("server") is not None:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(args.recovery_s)
    if proxies is not None:
        await proxies.aclose()
    phase(phase_file, "done")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("fault")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--phase-file")
    parser.add_argument("--hold-s", type=float, default=1.0)
    parser.add_argument("--recovery-s", type=float, default=0.3)
    parser.add_argument("--renew-s", type=float, default=0.5)
    parser.add_argument("--deadline-s", type=float, default=2.0)
    parser.add_argument("--proxy-api")
    parser.add_argument("--proxy")
    args = parser.parse_args()

    async def guarded() -> int:
        # SIGINT/SIGTERM cancel the run: the finally blocks revert, then we exit 130/143.
        task = asyncio.current_task()
        assert task is not None
        received: list[int] = []
        loop = asyncio.get_running_loop()

        def on_signal(sig: int) -> None:
            received.append(sig)
            if len(received) == 1:
                task.cancel()
            else:  # a second Ctrl-C must not cut the revert short
                print("still reverting, please wait", file=sys.stderr, flush=True)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await run(args)
        except asyncio.CancelledError:
            if received:
                return 128 + received[0]
            raise

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(guarded())
    return 130


if __name__ == "__main__":
    sys.exit(main())
