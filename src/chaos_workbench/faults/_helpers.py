"""Start and stop the helper processes (``_hog.py``) that resource faults use.

Each helper is tagged with the fault's tag in its environment (``CWB_FAULT_TAG``), which is
how a ``KillTagged`` revert action finds it without knowing its pid, and runs in its own
session so that killing its process group also kills any workers it forked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos_workbench.faults.base import Fault, FaultContext, FaultError, P
from chaos_workbench.host.spawn import TAG_ENV
from chaos_workbench.safety.actions import KillTagged, RevertAction

__all__ = [
    "Helper",
    "HelperFault",
    "lifetime_s",
    "new_tag",
    "spawn_helper",
    "stop_helper",
]

_HOG_SCRIPT = Path(__file__).with_name("_hog.py")


def new_tag(kind: str) -> str:
    """A tag unique to one fault instance (it names files and marks helper processes)."""
    return f"cwb-{kind}-{secrets.token_hex(6)}"


def lifetime_s(duration_s: float | None) -> float:
    """How long a helper may live on its own: twice the hold plus a minute, else an hour.

    A bound that holds even if every revert path failed (like a toxic's time-to-live);
    generous, so a hold that runs long is never cut short by it.
    """
    return 2 * duration_s + 60 if duration_s else 3600.0


@dataclass
class Helper:
    """A running helper process and what it reported when it became ready."""

    process: asyncio.subprocess.Process
    ready_detail: str


async def spawn_helper(
    mode: str,
    args: Sequence[str],
    *,
    tag: str,
    cgroups: Sequence[Path] = (),
    max_s: float = 3600.0,
    ready_timeout_s: float = 60.0,
) -> Helper:
    """Start ``_hog.py MODE ARGS`` and wait for its ``ready`` line."""
    env = {**os.environ, TAG_ENV: tag, "CWB_PARENT_PID": str(os.getpid())}
    argv = [sys.executable, str(_HOG_SCRIPT), "--max-s", str(max_s)]
    for group in cgroups:
        argv += ["--cgroup", str(group)]
    process = await asyncio.create_subprocess_exec(
        *argv,
        mode,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), ready_timeout_s)
    except TimeoutError:
        line = b""
    except BaseException:  # cancelled mid-start: leave no helper behind
        await asyncio.shield(stop_helper_process(process))
        raise
    if not line.startswith(b"ready"):
        await stop_helper_process(process)
        err = (await process.stderr.read()).decode(errors="replace").strip()
        why = f"exit code {process.returncode}" if process.returncode is not None else "no answer"
        if process.returncode == -signal.SIGKILL:
            why += " (SIGKILL: out of memory in its cgroup?)"
        raise FaultError(f"{mode} helper failed to start ({why}): {err[-500:] or 'no output'}")
    return Helper(process, line.decode().removeprefix("ready").strip())


async def stop_helper_process(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
    # Drain the pipes so their transports close now, not in a warning at garbage collection.
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.read()


async def stop_helper(helper: Helper | None) -> None:
    """Kill a helper and its workers at once; a helper already gone is fine."""
    if helper is not None:
        await stop_helper_process(helper.process)


class HelperFault(Fault[P]):
    """A fault held by one tagged helper process (CPU burner, memory holder, I/O writer).

    The tag is fixed before ``apply`` so the lease can name the helper before it exists;
    reverting kills it, in-process or (``KillTagged``) from the watchdog.
    """

    def __init__(self, params: P, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        self.tag = new_tag(self.kind)
        self._helper: Helper | None = None

    async def revert(self) -> None:
        helper, self._helper = self._helper, None
        await stop_helper(helper)

    def revert_actions(self) -> Sequence[RevertAction]:
        return (KillTagged(tag=self.tag),)
