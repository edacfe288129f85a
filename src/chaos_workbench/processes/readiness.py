"""Is a (re)started process ready to serve? Every condition its ``ready`` spec gives must hold.

* ``port``: ``host:port`` accepts a TCP connection;
* ``http``: a GET of the URL answers one of the ``status`` codes (certificates are not
  verified, as Kubernetes' ``httpGet`` probes do not: a readiness check asks "does it
  answer", not "do I trust it");
* ``command``: the command exits 0;
* ``log_line``: the text appears in the process's output since this start.

Each check is bounded by a short attempt timeout, so a service that accepts and never
answers makes the check fail (and be retried) instead of hanging the start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from chaos_workbench.host.spawn import port_open_async
from chaos_workbench.processes.spec import ReadinessSpec

__all__ = ["ATTEMPT_TIMEOUT_S", "check", "describe", "http_ready", "tail"]

ATTEMPT_TIMEOUT_S = 1.0  # one HTTP attempt: a ready service answers in milliseconds


async def check(ready: ReadinessSpec, log: Path, log_offset: int) -> bool:
    """True when every condition of ``ready`` holds now."""
    if ready.port is not None and not await port_open_async(ready.host, ready.port):
        return False
    if ready.http is not None and not await http_ready(ready.http, ready.status):
        return False
    if ready.command is not None and not await _command_succeeds(ready):
        return False
    return ready.log_line is None or _log_contains(log, log_offset, ready.log_line)


async def http_ready(
    url: str, statuses: tuple[int, ...], *, timeout_s: float = ATTEMPT_TIMEOUT_S
) -> bool:
    """True when a GET of ``url`` answers one of ``statuses`` within ``timeout_s``."""
    try:
        async with httpx.AsyncClient(verify=False, timeout=timeout_s, trust_env=False) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code in statuses


async def _command_succeeds(ready: ReadinessSpec) -> bool:
    assert ready.command is not None
    probe = await asyncio.create_subprocess_exec(
        *ready.command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        code = await asyncio.wait_for(probe.wait(), timeout=max(ready.timeout_s, 1.0))
    except TimeoutError:
        probe.kill()
        await probe.wait()
        return False
    return code == 0


def _log_contains(path: Path, offset: int, text: str) -> bool:
    """True when ``text`` appears in the log after ``offset`` (the start of this run)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return text.encode() in handle.read()
    except OSError:
        return False


def describe(ready: ReadinessSpec) -> str:
    """The conditions in words, for the "not ready within" message."""
    parts = []
    if ready.port is not None:
        parts.append(f"port {ready.host}:{ready.port}")
    if ready.http is not None:
        codes = "/".join(str(s) for s in ready.status)
        parts.append(f"GET {ready.http} answering {codes}")
    if ready.command is not None:
        parts.append(f"command {' '.join(ready.command)!r}")
    if ready.log_line is not None:
        parts.append(f"log line {ready.log_line!r}")
    return " and ".join(parts) or "process alive"


def tail(path: Path, lines: int = 10) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
