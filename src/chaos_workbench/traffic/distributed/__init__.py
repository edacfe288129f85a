"""Distributed load: the open-loop driver on many Dask workers, windows merged exactly.

Each worker sends its share of the plan on its own clock (:mod:`.share`), publishes its
final windows as HdrHistograms (:mod:`.wire`), and the coordinator merges them by window
into the windows the engine already analyses, flagging any share that went missing
(:mod:`.merge`, :mod:`.driver`). Needs the ``distributed`` extra; see docs/traffic.md.
"""

from __future__ import annotations

from chaos_workbench.traffic.distributed.driver import (
    LOCAL_CLUSTER_OPTIONS,
    DistributedLoadDriver,
    DistributedLoadError,
    check_scheduler,
)
from chaos_workbench.traffic.distributed.merge import ShareLoss, ShareMerger
from chaos_workbench.traffic.distributed.share import share_offsets_ns

__all__ = [
    "LOCAL_CLUSTER_OPTIONS",
    "DistributedLoadDriver",
    "DistributedLoadError",
    "ShareLoss",
    "ShareMerger",
    "check_scheduler",
    "share_offsets_ns",
]
