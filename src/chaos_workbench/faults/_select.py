"""Targets chosen when a fault is applied: "kill the leader", whoever the leader is then.

A :class:`ProcessSelector` asks the system itself — the standard output of a command, or
the body of an HTTP answer — and the answer names one of the suite's processes, by its
name or by one of its ports (``ready.port`` and ``ports``). With ``pattern``, the answer is
searched with a regular expression first and its first group (or the whole match) is what
names the process. The answer's words are read in order; the first that names exactly one
candidate wins (a port two candidates share names neither)::

    select:
      command: [valkey-cli, -p, "26379", SENTINEL, get-master-addr-by-name, main]
      # answers "127.0.0.1\\n26001": 26001 is the port of process valkey1

Only the suite's declared processes are candidates (``among`` narrows them), so a selector
can never point a fault outside the suite. Selection runs in the fault's ``prepare`` step,
right before the lease is written, so the lease names what is really about to be touched;
the result names the process chosen. An answer naming no candidate is a FaultError:
nothing is injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaos_workbench.faults.base import FaultContext, FaultError, Reference

__all__ = ["ProcessSelector", "name_in_answer", "process_ports", "run_selector"]

_WORD = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_ANSWER_BYTES = 1 << 20  # a status answer is small; a selector never reads more


class ProcessSelector(BaseModel):
    """Ask the system which process to act on, when the fault is applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="Run this; its standard output is the answer."
    )
    http: str | None = Field(default=None, description="GET this URL; its body is the answer.")
    pattern: str | None = Field(
        default=None, description="Search the answer; the first group (or the match) names it."
    )
    among: tuple[str, ...] = Field(
        default=(), description="Only these processes may be chosen (default: every one)."
    )
    timeout_s: float = Field(default=5.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_source(self) -> ProcessSelector:
        if (self.command is None) == (self.http is None):
            raise ValueError("give exactly one of 'command' or 'http' to ask the system")
        if len(set(self.among)) != len(self.among):
            raise ValueError("'among' names a process twice")
        return self

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value[0].strip():
            raise ValueError("the command's program is empty")
        return value

    @field_validator("http")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
        return value

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            # a{99999999999} raises OverflowError, thousands of nested groups RecursionError
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def references(self, field: str) -> Sequence[Reference]:
        refs = [
            Reference(kind="process", field=f"{field}.among.{i}", name=name)
            for i, name in enumerate(self.among)
        ]
        if self.http is not None:
            host = urlsplit(self.http).hostname or ""
            refs.append(Reference(kind="host", field=f"{field}.http", name=host))
        return refs

    def source(self) -> str:
        """``GET http://...`` or the command, for messages."""
        return " ".join(self.command) if self.command else f"GET {self.http}"

    def describe(self) -> str:
        return f"the process named by `{self.source()}`"


def process_ports(ctx: FaultContext) -> dict[str, tuple[int, ...]]:
    """Every declared process and the ports that name it (``ready.port`` then ``ports``)."""
    processes = ctx.require_processes()
    names: Sequence[str] = getattr(processes, "names", ())
    spec_of = getattr(processes, "spec", None)
    found: dict[str, tuple[int, ...]] = {}
    for name in names:
        spec = spec_of(name) if spec_of is not None else None
        ports: list[int] = []
        if spec is not None:
            if spec.ready.port is not None:
                ports.append(spec.ready.port)
            ports.extend(p for p in spec.ports if p not in ports)
        found[name] = tuple(ports)
    return found


async def run_selector(selector: ProcessSelector, ports: Mapping[str, tuple[int, ...]]) -> str:
    """Ask, and return the name of the process the answer names; FaultError otherwise.

    ``ports`` maps every declared process to the ports that name it; only those processes
    (narrowed by ``among``) can be chosen.
    """
    unknown = [name for name in selector.among if name not in ports]
    if unknown:
        raise FaultError(f"select.among names undeclared processes: {', '.join(unknown)}")
    candidates = {n: p for n, p in ports.items() if not selector.among or n in selector.among}
    answer = await _ask(selector)
    name = name_in_answer(answer, candidates, selector.pattern)
    if name is None:
        shown = ", ".join(sorted(candidates)) or "none"
        raise FaultError(
            f"{selector.describe()} answered {answer.strip()[:200]!r}, which names none of the "
            f"processes {shown} (by name or port): nothing was injected"
        )
    return name


def name_in_answer(
    answer: str, candidates: Mapping[str, tuple[int, ...]], pattern: str | None = None
) -> str | None:
    """The first word of ``answer`` that names exactly one candidate, by name or by port."""
    if pattern is not None:
        match = re.search(pattern, answer)
        if match is None:
            return None
        answer = (match.group(1) if match.groups() else match.group(0)) or ""
    by_port: dict[int, list[str]] = {}
    for name, ports in candidates.items():
        for port in ports:
            by_port.setdefault(port, []).append(name)
    words: list[str] = _WORD.findall(answer)
    for word in words:
        if word in candidates:
            return word
        if word.isdigit() and len(word) <= 5 and len(by_port.get(int(word), ())) == 1:
            return by_port[int(word)][0]
    return None


async def _ask(selector: ProcessSelector) -> str:
    if selector.http is not None:
        try:  # bounded as a whole: httpx's timeout is per read, a trickle could last
            return await asyncio.wait_for(_ask_http(selector, selector.http), selector.timeout_s)
        except TimeoutError:
            raise FaultError(
                f"{selector.describe()}: no answer within {selector.timeout_s:g} s"
            ) from None
    assert selector.command is not None
    try:
        process = await asyncio.create_subprocess_exec(
            *selector.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise FaultError(f"{selector.describe()}: cannot run it: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), selector.timeout_s)
    except TimeoutError:
        await _kill(process)
        raise FaultError(
            f"{selector.describe()}: no answer within {selector.timeout_s:g} s"
        ) from None
    except BaseException:  # cancelled: leave no process behind
        await asyncio.shield(_kill(process))
        raise
    if process.returncode != 0:
        raise FaultError(
            f"{selector.describe()} exited with {process.returncode}: "
            f"{err.decode(errors='replace').strip()[-300:]}"
        )
    return out[:_MAX_ANSWER_BYTES].decode(errors="replace")


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.communicate()  # reaps it and drains its pipes


async def _ask_http(selector: ProcessSelector, url: str) -> str:
    try:
        async with (
            httpx.AsyncClient(timeout=selector.timeout_s, trust_env=False) as client,
            client.stream("GET", url) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= _MAX_ANSWER_BYTES:
                    break
    except httpx.HTTPError as exc:
        raise FaultError(f"{selector.describe()}: no answer: {exc}") from exc
    if not response.is_success:
        raise FaultError(f"{selector.describe()} answered HTTP {response.status_code}")
    return bytes(body[:_MAX_ANSWER_BYTES]).decode(response.encoding or "utf-8", errors="replace")
