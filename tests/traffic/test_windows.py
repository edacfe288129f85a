"""Histograms, window merging and the send plan: pure parts of the traffic package."""

from __future__ import annotations

import itertools
import random
from array import array
from types import MappingProxyType

import numpy as np
import pytest

from chaos_workbench.traffic.recorder import WindowRecorder, histogram_counts, histogram_of_us
from chaos_workbench.traffic.schedule import RateProfile, intended_offsets_ns
from chaos_workbench.traffic.window import ErrorKind, Window, merge_windows, new_histogram


def test_batch_histogram_equals_recording_one_by_one() -> None:
    values = np.random.default_rng(1).lognormal(8, 2, 50_000).astype(np.int64).clip(0, 10**9)
    one_by_one = new_histogram()
    for v in values.tolist():
        one_by_one.record_value(v)
    batch = histogram_of_us(array("q", values.tolist()))
    assert batch.get_total_count() == one_by_one.get_total_count() == 50_000
    for p in (1, 50, 90, 99, 99.9, 100):
        assert batch.get_value_at_percentile(p) == one_by_one.get_value_at_percentile(p)
    ours = histogram_counts(batch)
    theirs = [
        (i.value_iterated_to, i.count_at_value_iterated_to)
        for i in one_by_one.get_recorded_iterator()
    ]
    assert ours[1].tolist() == [c for _, c in theirs]
    assert all(
        one_by_one.get_highest_equivalent_value(v) == t
        for v, (t, _) in zip(ours[0].tolist(), theirs, strict=True)
    )


def test_merge_windows_sums_counts_and_histograms() -> None:
    a = Window(
        0,
        250,
        requests=3,
        successes=2,
        errors=MappingProxyType({ErrorKind.RESET: 1}),
        histogram=histogram_of_us(array("q", [1000, 2000, 3000])),
        bytes_received=30,
    )
    b = Window(
        250,
        250,
        requests=2,
        successes=1,
        errors=MappingProxyType({ErrorKind.RESET: 1}),
        histogram=histogram_of_us(array("q", [900_000, 5000])),
        behind_schedule=True,
        max_send_lag_ms=12.0,
    )
    merged = merge_windows([a, b])
    assert (merged.start_ns, merged.duration_ns) == (0, 500)
    assert (merged.requests, merged.successes) == (5, 3)
    assert merged.errors == {ErrorKind.RESET: 2}
    assert merged.histogram.get_total_count() == 5
    assert merged.percentile_ms(100) == pytest.approx(900.0, rel=0.001)
    assert merged.percentile_ms(50) == pytest.approx(3.0, rel=0.001)
    assert merged.behind_schedule
    assert merged.bytes_received == 30
    assert merged.max_send_lag_ms == 12.0
    assert a.histogram.get_total_count() == 3  # the inputs are not changed


def test_constant_plan_has_exact_gaps() -> None:
    offsets = list(
        intended_offsets_ns(RateProfile.constant(1000, 1.0), "constant", random.Random(1))
    )
    assert len(offsets) == 1000
    assert offsets[:3] == [0, 1_000_000, 2_000_000]
    assert offsets[-1] == 999_000_000


def test_ramp_plan_integrates_the_rate() -> None:
    profile = RateProfile.stages(0, [(2.0, 1000), (1.0, 1000), (1.0, 0)])
    offsets = list(intended_offsets_ns(profile, "constant", random.Random(1)))
    assert len(offsets) == pytest.approx(1000 + 1000 + 500, abs=2)
    assert offsets == sorted(offsets)
    first_second = sum(1 for o in offsets if o < 1_000_000_000)
    assert first_second == pytest.approx(250, abs=2)  # ∫0..1 of 500·t


def test_poisson_plan_gaps_are_exponential() -> None:
    offsets = np.array(
        list(intended_offsets_ns(RateProfile.constant(2000, 10.0), "poisson", random.Random(5)))
    )
    gaps = np.diff(offsets) / 1e9
    assert len(offsets) == pytest.approx(20_000, rel=0.03)
    assert gaps.mean() == pytest.approx(1 / 2000, rel=0.03)
    assert gaps.std() == pytest.approx(1 / 2000, rel=0.05)  # exponential: std = mean


def test_open_ended_plan_never_ends() -> None:
    plan = intended_offsets_ns(RateProfile.constant(100), "constant", random.Random(1))
    assert list(itertools.islice(plan, 5))[-1] == 40_000_000


async def test_recorder_emits_only_final_windows_in_order() -> None:
    rec = WindowRecorder(start_ns=0, window_ns=100)
    rec.dispatched(10, 0)
    rec.dispatched(150, 0)
    rec.completed(150, 5, None, 10)
    rec.advance(250)
    assert rec.queue.empty()  # window 0 still has a request in flight
    rec.completed(10, 900, ErrorKind.READ_TIMEOUT, 0)
    rec.advance(250)
    first, second = rec.queue.get_nowait(), rec.queue.get_nowait()
    assert (first.start_ns, first.requests, first.successes) == (0, 1, 0)
    assert (second.start_ns, second.requests, second.successes) == (100, 1, 1)
    rec.close()
    assert rec.queue.get_nowait() is None
    assert rec.total.requests == 2
