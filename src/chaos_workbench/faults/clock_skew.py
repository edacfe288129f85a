"""``clock_skew``: restart a supervised process with its wall clock shifted (libfaketime).

For time-dependent code: tokens that expire, TTLs, certificates, cron-like schedules. The
process is restarted with ``LD_PRELOAD=libfaketime`` and ``FAKETIME=±<offset>``: its
``time()``, ``gettimeofday()`` and ``clock_gettime()`` move by the offset. The monotonic
clock moves by the same constant, which leaves every interval (timers, timeouts) as it was.
(``FAKETIME_DONT_FAKE_MONOTONIC=1`` would keep it still, but with libfaketime 0.9.10 it
makes Python's ``time.sleep`` fail with EINVAL, so it is not used.) Revert restarts the
process without libfaketime.
Statically linked programs (and Go binaries, which bypass libc) do not see the offset.

Needs libfaketime (Debian/Ubuntu: ``apt-get install -y faketime``); without it the fault
says so before the run. ``CWB_LIBFAKETIME`` points at a library in another place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from chaos_workbench.faults._helpers import new_tag
from chaos_workbench.faults._targets import require_supervisor
from chaos_workbench.faults.base import (
    Fault,
    FaultContext,
    FaultError,
    FaultParams,
    FaultRefused,
    Reference,
)
from chaos_workbench.faults.registry import register
from chaos_workbench.host.spawn import TAG_ENV
from chaos_workbench.host.units import DAY_S
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import KillTagged, RevertAction, StartProcess

__all__ = ["INSTALL_HINT", "ClockSkew", "ClockSkewParams", "find_libfaketime"]

INSTALL_HINT = (
    "libfaketime is not installed: on Debian/Ubuntu run `apt-get install -y faketime` "
    "(or .ci/install-system-deps.sh); elsewhere install libfaketime and set CWB_LIBFAKETIME "
    "to the path of libfaketime.so.1"
)

MAX_OFFSET_S = 3650 * DAY_S  # ten years either way: certificates, tokens, schedules

_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
)


def find_libfaketime() -> Path | None:
    """The libfaketime shared library, or None when it is not installed."""
    override = os.environ.get("CWB_LIBFAKETIME")
    for candidate in ([override] if override else []) + list(_CANDIDATES):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


class ClockSkewParams(FaultParams):
    """Which supervised process, and how far its clock moves."""

    type: Literal["clock_skew"] = "clock_skew"
    process: str = Field(min_length=1, description="Name of a supervised process.")
    offset_s: float = Field(
        ge=-MAX_OFFSET_S,
        le=MAX_OFFSET_S,
        allow_inf_nan=False,
        description="Seconds to add to its wall clock (negative: the past), at most ten years.",
    )

    def references(self) -> Sequence[Reference]:
        return (Reference(kind="process", field="process", name=self.process),)


@register
class ClockSkew(Fault[ClockSkewParams]):
    """Restart a process under libfaketime with an offset; revert restarts it without."""

    kind = "clock_skew"
    fault_type = FaultType.CLOCK
    params_model = ClockSkewParams

    def __init__(self, params: ClockSkewParams, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        self.tag = new_tag(self.kind)
        self._skewed = False

    def preflight(self) -> None:
        if find_libfaketime() is None:
            raise FaultError(INSTALL_HINT)
        if not require_supervisor(self.ctx).is_supervised(self.params.process):
            raise FaultRefused(
                f"process {self.params.process!r} is adopted from a pid file; clock_skew must "
                "restart it and the workbench cannot"
            )

    async def apply(self) -> None:
        library = find_libfaketime()
        if library is None:
            raise FaultError(INSTALL_HINT)
        supervisor = require_supervisor(self.ctx)
        self._skewed = True
        env = {
            "LD_PRELOAD": " ".join(filter(None, [str(library), os.environ.get("LD_PRELOAD")])),
            "FAKETIME": f"{self.params.offset_s:+g}",  # relative offset in seconds
            "FAKETIME_NO_CACHE": "1",
            TAG_ENV: self.tag,  # how the watchdog finds the skewed process
        }
        await supervisor.start(self.params.process, extra_env=env)

    async def revert(self) -> None:
        if not self._skewed:
            return
        await require_supervisor(self.ctx).start(self.params.process)  # restarts without
        self._skewed = False

    def revert_actions(self) -> Sequence[RevertAction]:
        # Kill the skewed process (found by its tag), then start the normal one.
        start = StartProcess.of(self.ctx.require_processes().launch_spec(self.params.process))
        return (KillTagged(tag=self.tag), start)

    def describe(self) -> str:
        return f"clock of {self.params.process} {self.params.offset_s:+g} s"
