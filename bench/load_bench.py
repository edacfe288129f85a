"""Benchmark of the load driver, printed as ratios measured side by side in one run.

    bash bench/install_load_tools.sh   # nginx + wrk (OS packages, via install_tools.sh), locust
    .venv/bin/python bench/load_bench.py      # full: ~5 min
    .venv/bin/python bench/load_bench.py --quick

1. Throughput: ``cwb load`` in closed loop (N users, like wrk) against nginx serving a small
   static file with keep-alive, vs ``wrk -t1`` at the same connection count (one thread, as
   our driver is one event loop), and vs Locust ``FastHttpUser`` in one process. Runs
   alternate (wrk, ours, locust, wrk, ours, …) so a noisy neighbour hurts all alike; the
   ratio is of medians. Targets: ≥ 0.9 × wrk, ≥ 10 × Locust.
2. Rate accuracy: open loop at 1,000 and 10,000 req/s; achieved = requests / planned
   duration (within 1 %).
3. Coordinated omission: a server that stalls 1 s once in a 10 s run at 1,000 req/s. Our
   open-loop p99 shows the stall (≈ 10 % of requests wait up to 1 s); a closed-loop client
   (ours with ``--users``, and wrk when installed) barely notices it.
4. Memory: peak RSS of a 60 s (quick: 15 s) run at 10,000 req/s (target < 150 MB).

Each comparison is skipped with a clear message when its tool is missing. All servers are
on loopback, on ephemeral ports; everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

CWB_LOAD = [sys.executable, "-c", "from chaos_workbench.traffic.cli import app; app()"]
STALL_AT_S = 4.5  # the stall server holds every answer in [4.5 s, 5.5 s) of the run
STALL_S = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


@contextlib.contextmanager
def nginx_server() -> Iterator[str | None]:
    """nginx on an ephemeral port serving a 40-byte file; yields its URL (None: no nginx)."""
    binary = find_nginx()
    if binary is None:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="cwb-bench-nginx-"))
    (root / "logs").mkdir()
    (root / "index.html").write_text("hello world, this is a small static file")
    port = free_port()
    (root / "nginx.conf").write_text(
        textwrap.dedent(
            f"""
            worker_processes 1;
            daemon off;
            pid {root}/nginx.pid;
            error_log {root}/logs/error.log;
            events {{ worker_connections 4096; }}
            http {{
              access_log off;
              keepalive_requests 100000000;
              keepalive_timeout 120s;
              server {{ listen 127.0.0.1:{port}; root {root}; }}
            }}
            """
        )
    )
    proc = subprocess.Popen(
        [binary, "-c", str(root / "nginx.conf"), "-p", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/index.html"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def serve_stall(port: int) -> None:
    """The stall server (run in a child process): 200 at once, except during the stall."""
    import uvloop

    first: list[float] = []
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            n = self.buffer.count(b"\r\n\r\n")
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            now = time.monotonic()
            if not first:
                first.append(now)
            stall_end = first[0] + STALL_AT_S + STALL_S
            if first[0] + STALL_AT_S <= now < stall_end:
                loop = asyncio.get_running_loop()
                loop.call_later(stall_end - now, self.transport.write, response * n)
            else:
                self.transport.write(response * n)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


@contextlib.contextmanager
def stall_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-stall", str(port)])
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


def cwb_load(url: str, *args: str, timeout_s: float = 300) -> dict[str, Any]:
    out = subprocess.run(
        [*CWB_LOAD, url, "--json", *args], capture_output=True, text=True, timeout=timeout_s
    )
    if out.returncode != 0:
        raise RuntimeError(f"cwb load failed: {out.stderr.strip()}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"cannot read a duration from wrk: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, connections: int, duration_s: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return {"rate": rate, "p99_ms": _ms(p99.group(1)) if p99 else float("nan")}


def locust(url: str, users: int, duration_s: float) -> float | None:
    """Requests/s of Locust FastHttpUser in one process (no workers), or None."""
    binary = Path(sys.executable).parent / "locust"
    if not binary.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="cwb-bench-locust-") as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        path = "/" + url.split("/", 3)[3]
        locustfile.write_text(
            "from locust import FastHttpUser, task, constant\n"
            "class U(FastHttpUser):\n"
            "    wait_time = constant(0)\n"
            f"    @task\n    def get(self):\n        self.client.get({path!r})\n"
        )
        base = url.split("/", 3)
        host = f"{base[0]}//{base[2]}"
        subprocess.run(
            [
                str(binary),
                "-f",
                str(locustfile),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{duration_s:g}s",
                "--host",
                host,
                "--csv",
                str(Path(tmp) / "r"),
                "--only-summary",
                "--loglevel",
                "ERROR",
            ],
            capture_output=True,
            text=True,
            timeout=duration_s + 60,
            check=False,
        )
        stats = (Path(tmp) / "r_stats.csv").read_text().splitlines()
        header = stats[0].split(",")
        for line in stats[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("Name") == "Aggregated":
                return float(row["Requests/s"])
    return None


@dataclass
class Report:
    lines: list[tuple[str, str, str]]

    def add(self, what: str, value: str, verdict: str = "") -> None:
        self.lines.append((what, value, verdict))
        print(f"  {what:<52} {value:>28}  {verdict}", flush=True)


def check(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_throughput(
    rep: Report, url: str | None, runs: int, duration_s: float, conns: int
) -> None:
    print(f"\n1. throughput vs wrk and Locust ({conns} connections, {runs} × {duration_s:g} s)")
    if url is None:
        rep.add("throughput", "skipped", "no nginx: run bench/install_load_tools.sh")
        return
    have_wrk = shutil.which("wrk") is not None
    ours: list[float] = []
    theirs: list[float] = []
    locusts: list[float] = []
    for _ in range(runs):
        if have_wrk:
            theirs.append(wrk(url, conns, duration_s)["rate"])
        ours.append(
            cwb_load(url, "--users", str(conns), "-d", str(duration_s))["achieved_rate_per_s"]
        )
        rate = locust(url, conns, duration_s)
        if rate is not None:
            locusts.append(rate)
    med = statistics.median(ours)
    rep.add("cwb load req/s (median)", f"{med:,.0f}", str([round(x) for x in ours]))
    if theirs:
        w = statistics.median(theirs)
        rep.add("wrk -t1 req/s (median)", f"{w:,.0f}", str([round(x) for x in theirs]))
        rep.add("ratio cwb / wrk (target ≥ 0.9)", f"{med / w:.2f}", check(med / w >= 0.9))
    else:
        rep.add("ratio cwb / wrk", "skipped", "wrk not installed")
    if locusts:
        lo = statistics.median(locusts)
        rep.add(
            "Locust FastHttpUser req/s (median)", f"{lo:,.0f}", str([round(x) for x in locusts])
        )
        rep.add("ratio cwb / Locust (target ≥ 10)", f"{med / lo:.1f}", check(med / lo >= 10))
    else:
        rep.add("ratio cwb / Locust", "skipped", "locust not installed")


def bench_rate(rep: Report, url: str | None, runs: int, duration_s: float) -> None:
    print(f"\n2. rate accuracy (open loop, {runs} × {duration_s:g} s)")
    if url is None:
        rep.add("rate accuracy", "skipped", "no nginx: run bench/install_load_tools.sh")
        return
    for rate in (1000, 10000):
        errors: list[float] = []
        lags: list[float] = []
        behind = 0
        for _ in range(runs):
            s = cwb_load(url, "--rate", str(rate), "-d", str(duration_s))
            # as sent: (requests − 1) / (last actual send − start); a driver that falls
            # behind sends its last request late, so this drops below the target
            errors.append(abs(s["sent_rate_per_s"] - rate) / rate * 100)
            lags.append(s["max_send_lag_ms"])
            behind += s["behind_schedule_windows"]
        err = statistics.median(errors)
        rep.add(
            f"rate {rate:,}/s: |sent rate − target| (target ≤ 1 %)",
            f"{err:.3f} %",
            check(err <= 1.0),
        )
        rep.add(f"rate {rate:,}/s: worst send lag (intended → sent)", f"{max(lags):,.1f} ms")
        if behind:
            rep.add(f"rate {rate:,}/s: windows behind schedule", str(behind), "driver saturated")


def _hides(p99_ms: float) -> str:
    if p99_ms < 100:
        return "hides the stall"
    # wrk 4 back-fills latencies it did not measure (a correction from its mean interval)
    return "shows the stall (corrected after the fact)"


def bench_coordinated_omission(rep: Report, duration_s: float) -> None:
    print(
        f"\n3. coordinated omission: 1 s stall at {STALL_AT_S:g} s of a {duration_s:g} s run, 1,000 req/s"
    )
    with stall_server() as url:
        s = cwb_load(url, "--rate", "1000", "-d", str(duration_s), "--timeout-ms", "5000")
    p99 = s["latency_ms"].get("p99", float("nan"))
    p90 = s["latency_ms"].get("p90", float("nan"))
    share = 1.0 / duration_s * 100
    rep.add(
        "open loop (cwb load --rate 1000): p90 / p99",
        f"{p90:,.1f} / {p99:,.1f} ms",
        check(p99 >= 500) + f" (≈{share:.0f} % of requests planned during the stall)",
    )
    with stall_server() as url:
        c = cwb_load(url, "--users", "10", "-d", str(duration_s))
    rep.add(
        "closed loop (cwb load --users 10): p99",
        f"{c['latency_ms'].get('p99', float('nan')):,.1f} ms",
        "hides the stall",
    )
    if shutil.which("wrk"):
        with stall_server() as url:
            w = wrk(url, 10, duration_s)
        rep.add("closed loop (wrk -c10): p99", f"{w['p99_ms']:,.1f} ms", _hides(w["p99_ms"]))


def bench_memory(rep: Report, url: str | None, duration_s: float) -> None:
    print(f"\n4. memory: {duration_s:g} s at 10,000 req/s")
    if url is None:
        rep.add("memory", "skipped", "no nginx: run bench/install_load_tools.sh")
        return
    proc = subprocess.Popen(
        [*CWB_LOAD, url, "--json", "--rate", "10000", "-d", str(duration_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peak = 0
    ps = psutil.Process(proc.pid)
    deadline = time.monotonic() + duration_s + 60
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, ps.memory_info().rss)
        time.sleep(0.25)
    out, _ = proc.communicate(timeout=60)
    s = json.loads(out)
    mb = peak / 2**20
    rep.add("peak RSS (target < 150 MB)", f"{mb:,.0f} MB", check(mb < 150))
    rep.add("requests in that run", f"{s['requests']:,}", f"{s['achieved_rate_per_s']:,.0f}/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 1.5 min)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve-stall", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["throughput", "rate", "co", "memory"], action="append")
    args = parser.parse_args()
    if args.serve_stall:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_stall(args.serve_stall)
        return 0
    quick = args.quick
    only = set(args.only or ["throughput", "rate", "co", "memory"])
    print("cwb load benchmark (figures on a shared machine are noisy; ratios are side by side)")
    rep = Report([])
    with nginx_server() as url:
        if url is None:
            print(
                "nginx not found: throughput, rate and memory are skipped "
                "(bash bench/install_load_tools.sh installs it)"
            )
        if "throughput" in only:
            bench_throughput(
                rep,
                url,
                runs=3 if quick else 5,
                duration_s=3 if quick else 10,
                conns=args.connections,
            )
        if "rate" in only:
            bench_rate(rep, url, runs=1 if quick else 3, duration_s=5 if quick else 10)
        if "memory" in only:
            bench_memory(rep, url, duration_s=15 if quick else 60)
    if "co" in only:
        bench_coordinated_omission(rep, duration_s=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
