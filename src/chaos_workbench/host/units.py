"""Numbers a suite hands to the operating system: finite, and within what it can act on.

Every float in a suite is finite (``.inf`` and ``.nan`` parse in YAML, ``Infinity`` and
``NaN`` in Python's JSON; a timer cannot wait forever and ``NaN`` compares false with
every bound), and every quantity has an upper bound far above any real use, so that a
typo (``fault_s: 10e9``) is a validation problem at its line, not a run that fails at
apply or never ends. The spec models of each package use these types; a field may add a
tighter bound of its own (``Field(gt=0)`` on a :data:`Ratio`), never a looser one.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

__all__ = [
    "DAY_S",
    "HOUR_MS",
    "MAX_PER_SECOND",
    "MAX_PID",
    "MAX_SIZE_MB",
    "MAX_WEIGHT",
    "WEEK_S",
    "Megabytes",
    "Milliseconds",
    "PerSecond",
    "Percent",
    "Pid",
    "Ratio",
    "Seconds",
    "SecondsOrZero",
    "Weight",
    "non_finite_path",
]

DAY_S = 86_400  # the longest phase, hold, timeout or time-to-live
WEEK_S = 7 * DAY_S  # the longest stage of a load profile
HOUR_MS = 3_600_000  # the longest request timeout, latency objective or added latency
MAX_PER_SECOND = 1_000_000  # requests, probes or writes per second
MAX_WEIGHT = 1_000_000  # a relative share (request mix, experiment score)
MAX_SIZE_MB = 16 * 1024 * 1024  # 16 TiB: memory limits, fills, file sizes
MAX_PID = 4_194_304  # PID_MAX_LIMIT on 64-bit Linux: no pid is larger

Seconds = Annotated[float, Field(gt=0, le=DAY_S, allow_inf_nan=False)]
"""A duration in seconds: more than 0, at most a day."""

SecondsOrZero = Annotated[float, Field(ge=0, le=DAY_S, allow_inf_nan=False)]
"""A duration in seconds where 0 means "none": 0 to a day."""

Milliseconds = Annotated[float, Field(gt=0, le=HOUR_MS, allow_inf_nan=False)]
"""A duration in milliseconds: more than 0, at most an hour."""

Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A share from 0 to 1."""

Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
"""A percentage from 0 to 100."""

PerSecond = Annotated[float, Field(ge=0, le=MAX_PER_SECOND, allow_inf_nan=False)]
"""A rate per second: 0 to a million."""

Weight = Annotated[float, Field(gt=0, le=MAX_WEIGHT, allow_inf_nan=False)]
"""A relative weight: more than 0, at most a million."""

Megabytes = Annotated[int, Field(gt=0, le=MAX_SIZE_MB)]
"""A size in MiB: 1 to 16 TiB."""

Pid = Annotated[int, Field(gt=0, le=MAX_PID)]
"""A Linux process id."""


def non_finite_path(value: object, path: str = "") -> str | None:
    """Where a JSON-like ``value`` holds an infinite or NaN float (``"a[1].b"``; ``path``
    itself for ``value``), or None when it holds none.

    For free-form JSON (request bodies, toxic attributes): ``NaN`` and ``Infinity`` are
    not JSON, so a server would refuse them. Iterative: the depth of ``value`` is bounded
    by the loader, but this costs no stack either way.
    """
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None
