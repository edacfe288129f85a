"""Crash test of the safety net: kill -9 the controller at a random moment, count residues.

Each trial runs ``bench/crash_controller.py`` (supervisor + safety net + one fault) with a
fault from the mix (pause, cpu, memory, disk, io, proxy latency, kill+restart, restart,
clock skew), waits for a randomly chosen phase (apply, hold, revert, recovery), waits a
random fraction of it, and sends SIGKILL. Then, for up to the lease deadline + 2 s, it
checks for residues until there are none. Two kinds are counted apart:

fault residues, what an injected fault may leave:

* a lease file still outstanding, a fill or io file left on disk;
* a helper (hog, filler, writer) of the dead controller still running;
* a toxic left on the proxy (when a Toxiproxy-compatible API could be started);
* after SIGSTOP (a hung controller, still alive): a supervised process stopped or frozen,
  not running, or still under libfaketime — the system must be back;

process residues, what the run *started* and a dead run must not leave running (after
SIGKILL only): any process of the controller's tree as it was just before the kill (the
supervised processes and their children, the watchdog), any process the watchdog
restarted (from the pid files), a process left in the run's cgroups, or the server's
port still accepting.

    .venv/bin/python bench/crash_test.py [--trials 50] [--seed 1] [--deadline-s 2]

Prints one line per trial and the figures; exits 1 if any trial left a residue.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from chaos_workbench.faults.clock_skew import find_libfaketime
from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.spawn import port_open, process_running, read_pid_file

HERE = Path(__file__).resolve().parent
PHASES = ("apply", "hold", "revert", "recovery")
ORDER = ("setup", *PHASES, "done")
# How long after entering a phase the kill may land (a random fraction of this), in s:
# apply and revert take tens of milliseconds, hold lasts --hold-s, recovery ~0.3 s.
PHASE_SPAN_S = {"apply": 0.05, "hold": 1.0, "revert": 0.05, "recovery": 0.3}


@dataclass
class Proxy:
    api_url: str
    name: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_proxy(workdir: Path) -> Proxy | None:
    """Our Toxiproxy-compatible server with one proxy, or None (and why) if unavailable."""
    port_file = workdir / "api.port"
    argv = [sys.executable, "-m", "chaos_workbench.proxy.cli", "serve", "--port", "0"]
    argv += ["--port-file", str(port_file)]
    try:
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    except OSError as exc:
        print(f"proxy latency trials skipped: cannot start the proxy ({exc})")
        return None
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            print("proxy latency trials skipped: `cwb proxy serve` is not available here")
            return None
        time.sleep(0.05)
    address = port_file.read_text().strip()
    api = f"http://{address}" if ":" in address else f"http://127.0.0.1:{address}"
    body = {"name": "crash", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{free_port()}"}
    try:
        httpx.post(f"{api}/proxies", json=body, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        process.kill()
        process.wait()
        print(f"proxy latency trials skipped: the proxy API refused a proxy ({exc})")
        return None
    return Proxy(api, "crash", process)


def residues(
    run_dir: Path, controller: int, kind: str, port: int, proxy: Proxy | None, hung: bool
) -> list[str]:
    """Every trace of a fault the crashed run may have left behind (empty: none)."""
    found: list[str] = []
    leases = list((run_dir / "leases").glob("*.json"))
    if leases:
        found.append(f"{len(leases)} lease(s) outstanding")
    found += [f"file {p.name}" for p in run_dir.glob(".cwb-*")]
    found += _helper_residues(controller)
    if hung:  # the controller lives on: the system under test must be back
        found += _supervised_residues(run_dir, port)
    if proxy is not None and kind == "latency":
        toxics = httpx.get(f"{proxy.api_url}/proxies/{proxy.name}/toxics", timeout=5).json()
        if toxics:
            found.append(f"{len(toxics)} toxic(s) left on the proxy")
    return found


def process_residues(run_dir: Path, tree: list[int], port: int) -> list[str]:
    """What the dead run started and left running (empty: nothing)."""
    pids = set(tree)
    for pid_file in (run_dir / "pids").glob("*.pid"):  # restarted by the watchdog, too
        pid = read_pid_file(pid_file)
        if pid is not None:
            pids.add(pid)
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    for procs in Path("/sys/fs/cgroup").glob(f"*/cwb-{digest}-*/cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.update(int(line) for line in procs.read_text().split())
    found = [f"pid {pid} running" for pid in sorted(pids) if process_running(pid)]
    if port_open("127.0.0.1", port):
        found.append("server port still accepting")
    return found


def _helper_residues(controller: int) -> list[str]:
    """Fault helpers (hogs, fillers) the controller spawned that are still running."""
    found = []
    for proc in psutil.process_iter():
        try:
            if (
                proc.environ().get("CWB_PARENT_PID") == str(controller)
                and proc.status() != "zombie"
            ):
                found.append(f"helper pid {proc.pid} running")
        except psutil.Error:
            continue
    return found


def _supervised_residues(run_dir: Path, port: int) -> list[str]:
    """The system under test must be back: running, not stopped, frozen or skewed."""
    found = []
    for name in ("server", "counter"):
        pid = read_pid_file(run_dir / "pids" / f"{name}.pid")
        if pid is None or not process_running(pid):
            found.append(f"{name} not running")
            continue
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_STOPPED:
            found.append(f"{name} stopped")
        try:
            if "FAKETIME" in proc.environ():
                found.append(f"{name} still under libfaketime")
        except psutil.Error:
            pass
    if not port_open("127.0.0.1", port):
        found.append("server port closed")
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    for state in Path("/sys/fs/cgroup/freezer").glob(f"cwb-{digest}-*/freezer.state"):
        if state.read_text().strip() != "THAWED":
            found.append(f"{state.parent.name} frozen")
    return found


def teardown(run_dir: Path) -> None:
    """Stop what a trial left running on purpose (its supervised processes) and clean up."""
    for pid_file in (run_dir / "pids").glob("*.pid"):
        pid = read_pid_file(pid_file)
        if pid is not None and process_running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    for group in Path("/sys/fs/cgroup").glob(f"*/cwb-{digest}-*"):
        cg.remove(cg.at(group))
    shutil.rmtree(run_dir, ignore_errors=True)


def phase_of(path: Path) -> str:
    try:
        name = path.read_text().strip()
    except OSError:
        return "setup"
    return name if name in ORDER else "setup"


def trial(
    index: int,
    kind: str,
    target: str,
    hung: bool,
    rng: random.Random,
    args: argparse.Namespace,
    root: Path,
    proxy: Proxy | None,
) -> tuple[str, float | None, list[str], list[str]]:
    """One trial: (phase at the kill, seconds until clean or None, fault residues,
    process residues)."""
    run_dir = root / f"trial-{index:03d}"
    port = free_port()
    argv = [sys.executable, str(HERE / "crash_controller.py"), str(run_dir), kind]
    argv += ["--port", str(port), "--hold-s", str(args.hold_s)]
    argv += ["--deadline-s", str(args.deadline_s), "--renew-s", str(args.renew_s)]
    if proxy is not None:
        argv += ["--proxy-api", proxy.api_url, "--proxy", proxy.name]
    controller = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    phase_file = run_dir / "phase"
    try:
        deadline = time.monotonic() + 60
        while ORDER.index(phase_of(phase_file)) < ORDER.index(target):
            if controller.poll() is not None or time.monotonic() > deadline:
                err = controller.stderr.read().decode() if controller.stderr else ""
                return "failed", None, [f"controller exited early: {err.strip()[-300:]}"], []
            time.sleep(0.002)
        time.sleep(rng.uniform(0, PHASE_SPAN_S[target]))
        at = phase_of(phase_file)
        tree = [p.pid for p in psutil.Process(controller.pid).children(recursive=True)]
        if hung:  # alive but renewing nothing, like a hung event loop: only the watchdog helps
            controller.send_signal(signal.SIGSTOP)
        else:
            controller.send_signal(signal.SIGKILL)
            controller.wait(10)
        killed = time.monotonic()
        # Stopping what the run started takes up to one grace period (5 s) on top.
        limit = args.deadline_s + 2 + (0 if hung else 5)
        while True:
            left = residues(run_dir, controller.pid, kind, port, proxy, hung)
            running = [] if hung else process_residues(run_dir, tree, port)
            took = time.monotonic() - killed
            if not left and not running:
                return at, took, [], []
            if took > limit:
                return at, None, left, running
            time.sleep(0.05)
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait(10)
        if controller.stderr is not None:
            controller.stderr.close()
        teardown(run_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description="kill -9 the controller, count residues")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hold-s", type=float, default=1.0)
    parser.add_argument("--deadline-s", type=float, default=2.0)
    parser.add_argument("--renew-s", type=float, default=0.5)
    parser.add_argument(
        "--hung-every",
        type=int,
        default=5,
        help="every Nth trial SIGSTOPs the controller instead of killing it (0: never)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="cwb-crash-"))
    kinds = ["pause", "cpu", "memory", "disk", "io", "kill", "restart"]
    if find_libfaketime() is not None:
        kinds.append("clock")
    else:
        print("clock skew trials skipped: libfaketime missing (.ci/install-system-deps.sh)")
    proxy = start_proxy(root)
    if proxy is not None:
        kinds.append("latency")
    print(
        f"{args.trials} trials, faults {', '.join(kinds)}, deadline {args.deadline_s} s, seed {args.seed}"
    )
    results: list[tuple[str, str, float | None, list[str], list[str], str]] = []
    started = time.monotonic()
    try:
        for index in range(args.trials):
            kind = kinds[index % len(kinds)]
            target = rng.choice(PHASES)
            hung = args.hung_every > 0 and index % args.hung_every == args.hung_every - 1
            at, took, left, running = trial(index, kind, target, hung, rng, args, root, proxy)
            how = "SIGSTOP" if hung else "SIGKILL"
            results.append((kind, at, took, left, running, how))
            status = (
                f"clean after {took * 1000:6.0f} ms"
                if took is not None
                else f"RESIDUE: {left + running}"
            )
            print(f"trial {index + 1:3d}  {kind:8s} {how} in {at:9s} {status}", flush=True)
    finally:
        if proxy is not None:
            proxy.process.kill()
            proxy.process.wait()
        shutil.rmtree(root, ignore_errors=True)
    dirty = [r for r in results if r[2] is None]
    print()
    wall_s = time.monotonic() - started
    print(f"trials: {len(results)}  with residue: {len(dirty)}  wall time: {wall_s:.0f} s")
    fault_dirty = sum(1 for r in results if r[3])
    process_dirty = sum(1 for r in results if r[4])
    print(
        f"fault residues: {fault_dirty}  process residues: {process_dirty} "
        "(what the run started, still running after kill -9)"
    )
    by_fault = Counter(r[0] for r in results)
    print("by fault: " + ", ".join(f"{k} {n}" for k, n in sorted(by_fault.items())))
    by_phase = Counter(r[1] for r in results)
    print("by phase at the kill: " + ", ".join(f"{k} {n}" for k, n in by_phase.most_common()))
    for how, meaning in (("SIGKILL", "kill -9"), ("SIGSTOP", "SIGSTOP (hung controller)")):
        limit_ms = (args.deadline_s + 2 + (5 if how == "SIGKILL" else 0)) * 1000
        ms = sorted(r[2] * 1000 for r in results if r[5] == how and r[2] is not None)
        if ms:
            p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
            print(
                f"{meaning}: {len(ms)} clean, no residue after median "
                f"{statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms "
                f"(limit {limit_ms:.0f} ms)"
            )
    for kind, at, _, left, running, how in dirty:
        print(f"  residue after {kind} ({how} in {at}): {left + running}")
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
