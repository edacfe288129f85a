"""The send plan: when each request *should* be sent, decided before anything is sent.

Open-loop load means the plan never bends to the service: a slow answer does not delay the
next request, and each request's latency counts from its planned (intended) send time, the
model wrk2 and vegeta use against coordinated omission.

The plan is a rate profile (piecewise linear: a constant rate, or stages that ramp between
rates) turned into send times by inverting its cumulative count ``N(t) = ∫ rate``:

* constant arrivals: request ``k`` (0-based) is sent when ``N(t) = k``, so the first request
  goes at t = 0 and the gaps are exactly ``1 / rate``;
* Poisson arrivals: the targets are running sums of unit exponentials (a time-varying
  Poisson process by inversion), drawn from the run's seeded RNG so a run can be replayed.

Times are nanoseconds from the start of the run (integers, so no float drift over hours).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["RateProfile", "RateSegment", "intended_offsets_ns"]

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RateSegment:
    """The rate moves linearly from ``start_rate_per_s`` to ``end_rate_per_s`` over the segment."""

    duration_s: float
    start_rate_per_s: float
    end_rate_per_s: float

    def count(self, t_s: float) -> float:
        """Requests planned in the first ``t_s`` seconds of the segment (``∫ rate``)."""
        slope = (self.end_rate_per_s - self.start_rate_per_s) / self.duration_s
        return self.start_rate_per_s * t_s + 0.5 * slope * t_s * t_s

    def time_of(self, n: float) -> float:
        """The time (s) in the segment at which ``count`` reaches ``n`` (0 ≤ n ≤ count(end))."""
        if n <= 0.0:
            return 0.0
        r0 = self.start_rate_per_s
        slope = (self.end_rate_per_s - r0) / self.duration_s
        if abs(slope) < 1e-12:
            return n / r0
        # 0.5·slope·t² + r0·t − n = 0; the root that lies in the segment, written in the
        # cancellation-free form 2n / (r0 + sqrt(r0² + 2·slope·n)).
        disc = max(r0 * r0 + 2.0 * slope * n, 0.0)
        denom = r0 + math.sqrt(disc)
        if denom <= 0.0:
            return self.duration_s
        return min(2.0 * n / denom, self.duration_s)


@dataclass(frozen=True, slots=True)
class RateProfile:
    """A rate over time. ``segments`` empty with ``hold_rate_per_s`` set: constant forever."""

    segments: tuple[RateSegment, ...] = ()
    hold_rate_per_s: float | None = None

    @classmethod
    def constant(cls, rate_per_s: float, duration_s: float | None = None) -> RateProfile:
        """One rate, for ``duration_s`` or until stopped."""
        if rate_per_s <= 0:
            raise ValueError(f"rate must be > 0 per second, got {rate_per_s}")
        if duration_s is None:
            return cls(hold_rate_per_s=rate_per_s)
        return cls(segments=(RateSegment(duration_s, rate_per_s, rate_per_s),))

    @classmethod
    def stages(cls, start_rate_per_s: float, stages: Sequence[tuple[float, float]]) -> RateProfile:
        """Ramps: each ``(duration_s, target_rate_per_s)`` moves linearly from the previous rate."""
        segments: list[RateSegment] = []
        rate = start_rate_per_s
        for duration_s, target in stages:
            segments.append(RateSegment(duration_s, rate, target))
            rate = target
        return cls(segments=tuple(segments))

    @property
    def duration_s(self) -> float | None:
        """Total length, or None for an open-ended profile."""
        if self.hold_rate_per_s is not None:
            return None
        return sum(s.duration_s for s in self.segments)

    @property
    def peak_rate_per_s(self) -> float:
        rates = [self.hold_rate_per_s or 0.0]
        for s in self.segments:
            rates += [s.start_rate_per_s, s.end_rate_per_s]
        return max(rates)

    def times_s(self, targets: Iterator[float]) -> Iterator[float]:
        """Invert ``N(t)``: for each (increasing) count target, the time it is reached.

        Half-open: a target reached exactly at the end of the profile is not sent.
        """
        offset_s = 0.0
        before = 0.0  # planned count at the start of the current segment
        target = next(targets, None)
        for seg in self.segments:
            total = seg.count(seg.duration_s)
            while target is not None and target - before < total:
                yield offset_s + seg.time_of(target - before)
                target = next(targets, None)
            if target is None:
                return
            offset_s += seg.duration_s
            before += total
        if self.hold_rate_per_s is not None:
            while target is not None:
                yield offset_s + (target - before) / self.hold_rate_per_s
                target = next(targets, None)


def _constant_targets() -> Iterator[float]:
    k = 0
    while True:
        yield float(k)
        k += 1


def _poisson_targets(rng: random.Random) -> Iterator[float]:
    total = 0.0
    while True:
        total += rng.expovariate(1.0)
        yield total


def intended_offsets_ns(profile: RateProfile, arrival: str, rng: random.Random) -> Iterator[int]:
    """Intended send times (ns from the run's start), increasing; ends with the profile.

    ``arrival`` is ``"constant"`` or ``"poisson"``.
    """
    if arrival == "constant":
        targets = _constant_targets()
    elif arrival == "poisson":
        targets = _poisson_targets(rng)
    else:
        raise ValueError(f"unknown arrival process {arrival!r} (constant or poisson)")
    for t_s in profile.times_s(targets):
        yield int(t_s * _NS_PER_S)
