"""``disk_fill``: fill the filesystem under a path, to a size or a usage percentage.

The fill is one file (``.cwb-disk_fill-<tag>.fill`` in ``path``), allocated by a helper
process with ``posix_fallocate`` (real blocks, instantly) or plain writes where the
filesystem cannot, and fsynced. Whatever is asked, the filesystem keeps ``floor_free_pct``
% free (default 5 %): beyond that the fault is refused, or with ``on_floor: cap`` shrunk to
fit. Only paths inside the run directory or ``blast_radius.paths`` are allowed. Revert
deletes the file (and the helper, should it still be writing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from chaos_workbench.faults._helpers import new_tag, spawn_helper, stop_helper
from chaos_workbench.faults._targets import check_path_allowed
from chaos_workbench.faults.base import Fault, FaultContext, FaultError, FaultParams, FaultRefused
from chaos_workbench.faults.registry import register
from chaos_workbench.host.names import OsText
from chaos_workbench.host.units import Megabytes, Percent
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import DeletePath, KillTagged, RevertAction

__all__ = ["DiskFill", "DiskFillParams", "fill_size_bytes"]

_MIB = 1024 * 1024


class DiskFillParams(FaultParams):
    """Where to fill, how much, and the floor that protects the filesystem."""

    type: Literal["disk_fill"] = "disk_fill"
    path: OsText = Field(min_length=1, description="A directory on the filesystem to fill.")
    size_mb: Megabytes | None = None
    percent: Percent | None = Field(
        default=None, gt=0, description="Fill until the filesystem is this % used."
    )
    floor_free_pct: Percent = Field(default=5.0, lt=100)
    on_floor: Literal["refuse", "cap"] = "refuse"

    @model_validator(mode="after")
    def _how_much(self) -> DiskFillParams:
        if (self.size_mb is None) == (self.percent is None):
            raise ValueError("give exactly one of size_mb or percent")
        return self


def fill_size_bytes(path: Path, params: DiskFillParams) -> tuple[int, str | None]:
    """Bytes to write under ``path`` for these params, and a note if the floor capped it."""
    stat = os.statvfs(path)
    total = stat.f_blocks * stat.f_frsize
    available = stat.f_bavail * stat.f_frsize
    if params.size_mb is not None:
        wanted = params.size_mb * _MIB
    else:
        assert params.percent is not None
        wanted = int(total * params.percent / 100) - (total - available)
        if wanted <= 0:
            raise FaultError(
                f"{path} is already {100 * (total - available) / total:.1f} % used, "
                f"at or above the {params.percent:g} % asked"
            )
    room = available - int(total * params.floor_free_pct / 100)
    if wanted <= room:
        return wanted, None
    message = (
        f"{wanted // _MIB} MB would leave less than the {params.floor_free_pct:g} % floor of "
        f"free space on {path} ({available // _MIB} MB free of {total // _MIB} MB)"
    )
    if params.on_floor == "cap" and room >= _MIB:
        return room, f"capped to {room // _MIB} MB: {message}"
    raise FaultRefused(f"refused: {message}")


@register
class DiskFill(Fault[DiskFillParams]):
    """Allocate a file that fills the disk; revert deletes it."""

    kind = "disk_fill"
    fault_type = FaultType.RESOURCE_EXHAUSTION
    params_model = DiskFillParams

    def __init__(self, params: DiskFillParams, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        self.tag = new_tag(self.kind)
        self.file = Path(params.path) / f".{self.tag}.fill"
        self.note: str | None = None
        self.size_bytes: int | None = None

    def preflight(self) -> None:
        directory = check_path_allowed(Path(self.params.path), self.ctx)
        if not directory.is_dir():
            raise FaultError(f"{directory} is not a directory")
        fill_size_bytes(directory, self.params)

    async def apply(self) -> None:
        directory = check_path_allowed(Path(self.params.path), self.ctx)
        size, self.note = fill_size_bytes(directory, self.params)
        self.size_bytes = size
        args = ["--path", str(self.file), "--size-mb", str(max(1, size // _MIB))]
        helper = await spawn_helper("fill", args, tag=self.tag, ready_timeout_s=600.0)
        await stop_helper(helper)  # it has finished: reap it

    async def revert(self) -> None:
        await asyncio.to_thread(_unlink, self.file)

    def revert_actions(self) -> Sequence[RevertAction]:
        return (KillTagged(tag=self.tag), DeletePath(path=str(self.file)))

    def describe(self) -> str:
        amount = (
            f"{self.params.size_mb} MB"
            if self.params.size_mb is not None
            else f"to {self.params.percent:g} % used"
        )
        note = f" ({self.note})" if self.note else ""
        return f"disk fill {amount} under {self.params.path}{note}"


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
