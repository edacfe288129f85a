"""What the HTTP toxics cost: wrk through the proxy to a local nginx, per toxic setup.

Each row runs ``wrk`` (keep-alive, 50 connections, small responses) for a few seconds:
straight to nginx, through the proxy with no toxic, and through the proxy with HTTP
toxics that match nothing (framing cost only), that edit every response, that delay every
request by 0 ms (the hold-and-release path), and that answer every request themselves.
It prints requests/s, p50/p99 latency and the ratio to the proxy without toxics.

    python bench/http_toxics.py [--duration-s 5] [--connections 50] [--stdlib-loop]

The proxy runs in a child process on uvloop (``--stdlib-loop``: asyncio's own loop).

Needs ``nginx`` and ``wrk`` (``bench/install_load_tools.sh`` installs them from the OS
packages); says so and exits 0 when they are missing. Figures on a shared machine are
noisy: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SETUPS: dict[str, list[dict[str, object]]] = {
    "proxy, no toxic": [],
    "http toxics, none matching": [
        {"type": "http_error", "attributes": {"path": "/never"}},
        {"type": "http_header", "attributes": {"path": "/never", "add": {"X": "1"}}},
    ],
    "http_header on every response": [
        {"type": "http_header", "attributes": {"add": {"X-Chaos": "1"}}},
    ],
    "http_latency 0 ms on every request": [
        {"type": "http_latency", "attributes": {"latency_ms": 0}},
    ],
    "http_error on every request": [
        {"type": "http_error", "attributes": {"status": 503}},
    ],
}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp};
    scgi_temp_path {tmp};
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def _nginx_exe() -> str | None:
    """nginx from PATH, or where Debian puts it (/usr/sbin is not on every user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


@contextlib.contextmanager
def _nginx() -> Iterator[int]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        proc = subprocess.Popen(
            [_nginx_exe() or "nginx", "-c", str(conf), "-p", tmp], stderr=subprocess.DEVNULL
        )
        try:
            _wait_port(port)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def _proxy(upstream_port: int, toxics: list[dict[str, object]], stdlib: bool) -> Iterator[int]:
    flags = ["--stdlib-loop"] if stdlib else []
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-proxy", str(upstream_port), json.dumps(toxics), *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _wrk(port: int, duration_s: int, connections: int) -> tuple[float, float, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration_s}s",
            "--latency",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return (float(rps.group(1)) if rps else float("nan")), ms("50"), ms("99")


async def _serve_proxy(upstream_port: int, toxics: list[dict[str, object]]) -> None:
    from chaos_workbench.proxy.manager import ProxyManager
    from chaos_workbench.proxy.models import ToxicSpec

    async with ProxyManager(rng=random.Random(1)) as manager:
        info = await manager.create("b", "127.0.0.1:0", f"127.0.0.1:{upstream_port}")
        for i, t in enumerate(toxics):
            manager.add_toxic("b", ToxicSpec.model_validate({**t, "name": f"t{i}"}))
        print(info.listen.rsplit(":", 1)[1], flush=True)
        await asyncio.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--stdlib-loop", action="store_true", help="proxy on asyncio's loop")
    parser.add_argument("--serve-proxy", nargs=2, metavar=("UPSTREAM_PORT", "TOXICS_JSON"))
    args = parser.parse_args()
    if args.serve_proxy:
        runner = asyncio.run
        if not args.stdlib_loop:
            with contextlib.suppress(ImportError):
                import uvloop

                runner = uvloop.run
        runner(_serve_proxy(int(args.serve_proxy[0]), json.loads(args.serve_proxy[1])))
        return 0
    subprocess.run(["bash", str(Path(__file__).with_name("install_tools.sh"))], check=False)
    missing = [
        tool for tool, exe in (("nginx", _nginx_exe()), ("wrk", shutil.which("wrk"))) if not exe
    ]
    if missing:
        print(f"SKIPPED: {', '.join(missing)} could not be installed (bench/install_tools.sh)")
        return 0
    rows: list[tuple[str, float, float, float]] = []
    with _nginx() as nginx_port:
        rows.append(("direct to nginx", *_wrk(nginx_port, args.duration_s, args.connections)))
        for label, toxics in SETUPS.items():
            with _proxy(nginx_port, toxics, args.stdlib_loop) as port:
                rows.append((label, *_wrk(port, args.duration_s, args.connections)))
    print(f"proxy event loop: {'asyncio' if args.stdlib_loop else 'uvloop'}")
    base = rows[1][1] or float("nan")
    print(f"{'setup':38} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'vs proxy':>8}")
    for label, rps, p50, p99 in rows:
        print(f"{label:38} {rps:9.0f} {p50:7.2f} {p99:7.2f} {rps / base:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
