"""``io_stress``: a writer that fsyncs blocks at a fixed rate on a path's filesystem.

Every write is followed by ``fsync``, which forces the device to commit and queues behind
(and in front of) everybody else's commits: databases feel it as slow commits and WAL
flushes. The writer reuses one file of at most ``max_size_mb`` (it wraps around), so it
stresses I/O without filling the disk. Paths follow the blast radius like ``disk_fill``.
Revert kills the writer and deletes its file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from chaos_workbench.faults._helpers import (
    HelperFault,
    lifetime_s,
    spawn_helper,
)
from chaos_workbench.faults._targets import check_path_allowed
from chaos_workbench.faults.base import FaultContext, FaultError, FaultParams
from chaos_workbench.faults.registry import register
from chaos_workbench.host.names import OsText
from chaos_workbench.host.units import Megabytes, PerSecond
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import DeletePath, RevertAction

__all__ = ["IoStress", "IoStressParams"]


class IoStressParams(FaultParams):
    """Where to write, how big each block is, and how often."""

    type: Literal["io_stress"] = "io_stress"
    path: OsText = Field(min_length=1, description="A directory on the filesystem to stress.")
    rate_per_s: PerSecond = Field(default=100.0, gt=0, le=100_000, description="fsynced writes/s.")
    block_kb: int = Field(default=64, ge=1, le=65_536)
    max_size_mb: Megabytes = Field(default=64, description="The file wraps around at this size.")


@register
class IoStress(HelperFault[IoStressParams]):
    """Write and fsync at a rate in a helper process; revert stops it and removes the file."""

    kind = "io_stress"
    fault_type = FaultType.RESOURCE_EXHAUSTION
    params_model = IoStressParams

    def __init__(self, params: IoStressParams, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        self.file = Path(params.path) / f".{self.tag}.io"

    def preflight(self) -> None:
        directory = check_path_allowed(Path(self.params.path), self.ctx)
        if not directory.is_dir():
            raise FaultError(f"{directory} is not a directory")

    async def apply(self) -> None:
        check_path_allowed(Path(self.params.path), self.ctx)
        args = [
            "--path",
            str(self.file),
            "--block-kb",
            str(self.params.block_kb),
            "--rate-per-s",
            str(self.params.rate_per_s),
            "--max-size-mb",
            str(self.params.max_size_mb),
        ]
        self._helper = await spawn_helper(
            "io", args, tag=self.tag, max_s=lifetime_s(self.params.duration_s)
        )

    async def revert(self) -> None:
        await super().revert()
        await asyncio.to_thread(_unlink, self.file)

    def revert_actions(self) -> Sequence[RevertAction]:
        return (*super().revert_actions(), DeletePath(path=str(self.file)))

    def describe(self) -> str:
        p = self.params
        return f"io {p.rate_per_s:g} fsynced writes/s of {p.block_kb} KB under {p.path}"


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
