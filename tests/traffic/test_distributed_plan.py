"""Distributed load without a cluster: the plan's split, the wire format, the merge rules."""

from __future__ import annotations

import itertools
import random

import pytest
from distributed.worker import _is_dumpable

from chaos_workbench.traffic.distributed import ShareMerger, share_offsets_ns
from chaos_workbench.traffic.distributed.wire import MESSAGE, decode_window, encode_window
from chaos_workbench.traffic.recorder import histogram_of_us
from chaos_workbench.traffic.schedule import RateProfile, intended_offsets_ns
from chaos_workbench.traffic.window import ErrorKind, Window

W = 250_000_000  # window length, ns


@pytest.mark.parametrize("shares", [1, 2, 3, 4, 7])
@pytest.mark.parametrize(
    "profile",
    [RateProfile.constant(1000.0, 3.0), RateProfile.stages(10.0, [(2.0, 900.0), (1.0, 300.0)])],
    ids=["constant", "stages"],
)
def test_the_union_of_the_shares_is_the_single_driver_plan(
    profile: RateProfile, shares: int
) -> None:
    single = list(intended_offsets_ns(profile, "constant", random.Random(0)))
    parts = [
        list(share_offsets_ns(profile, "constant", i, shares, random.Random(0)))
        for i in range(shares)
    ]
    assert sorted(itertools.chain(*parts)) == single
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1  # an even split
    assert parts[0][: len(single[::shares])] == single[::shares]  # share 0: requests 0, N, 2N…


def test_poisson_shares_each_carry_rate_over_n() -> None:
    """Each share is a Poisson process at rate/N: 4 shares of 20 000/s over 10 s ≈ 50 000 each."""
    profile = RateProfile.constant(20_000.0, 10.0)
    counts = [
        sum(1 for _ in share_offsets_ns(profile, "poisson", i, 4, random.Random(i)))
        for i in range(4)
    ]
    # The count is Poisson with mean 50 000: sd ≈ 224, so ± 1 500 (6.7 sd) never fails by chance.
    assert all(abs(c - 50_000) < 1_500 for c in counts), counts
    first = list(itertools.islice(share_offsets_ns(profile, "poisson", 0, 4, random.Random(0)), 50))
    again = list(itertools.islice(share_offsets_ns(profile, "poisson", 0, 4, random.Random(0)), 50))
    assert first == again  # seeded: a run can be replayed


def test_a_share_outside_the_split_is_refused() -> None:
    with pytest.raises(ValueError, match=r"share 4 is not one of 0\.\.3"):
        next(share_offsets_ns(RateProfile.constant(10.0, 1.0), "constant", 4, 4, random.Random(0)))


def _window(index: int, latencies_us: list[int], errors: int = 0) -> Window:
    from array import array
    from types import MappingProxyType

    return Window(
        start_ns=1_000 + index * W,
        duration_ns=W,
        requests=len(latencies_us),
        successes=len(latencies_us) - errors,
        errors=MappingProxyType({ErrorKind.HTTP_5XX: errors} if errors else {}),
        histogram=histogram_of_us(array("q", latencies_us)),
    )


def test_a_window_survives_the_wire_exactly() -> None:
    window = _window(3, [120, 950, 20_000, 1_500_000], errors=1)
    payload = encode_window(2, 3, window, 1_000).model_dump()
    assert _is_dumpable(payload)  # what Worker.log_event demands of every message
    message = MESSAGE.validate_python(payload)
    back = decode_window(message, 50_000, W)  # onto another clock
    assert back.start_ns == 50_000 + 3 * W
    assert (back.requests, back.successes, dict(back.errors)) == (4, 3, {ErrorKind.HTTP_5XX: 1})
    for p in (1.0, 50.0, 99.0, 100.0):
        assert back.histogram.get_value_at_percentile(
            p
        ) == window.histogram.get_value_at_percentile(p)


def _merger() -> ShareMerger:
    return ShareMerger(shares=2, start_ns=0, window_ns=W, grace_ns=1_000_000_000)


def test_windows_merge_by_index_only_once_every_share_sent_them() -> None:
    merger = _merger()
    merger.add(0, 0, _window(0, [1_000, 2_000]))
    assert merger.release(now_ns=W) == []  # share 1 still owes window 0, not yet due
    merger.add(1, 0, _window(0, [3_000], errors=1))
    [window] = merger.release(now_ns=W)
    assert (window.requests, window.successes, window.start_ns) == (3, 2, 0)
    assert window.histogram.get_total_count() == 3
    assert window.histogram.get_max_value() == _window(0, [3_000]).histogram.get_max_value()
    assert window.missing_shares == ()
    assert not window.behind_schedule


def test_a_silent_share_is_lost_and_flagged_never_rescaled() -> None:
    merger = _merger()
    merger.started(1, "tcp://127.0.0.1:9")
    for k in range(3):
        merger.add(0, k, _window(k, [1_000] * 10))
    merger.add(1, 0, _window(0, [1_000] * 10))
    assert [w.requests for w in merger.release(now_ns=2 * W)] == [20]  # 1 not yet due
    windows = merger.release(now_ns=2 * W + 1_000_000_000)  # window 1's due time has passed
    assert [(w.requests, w.missing_shares, w.behind_schedule) for w in windows] == [
        (10, (1,), True),
        (10, (1,), True),
    ]
    [loss] = merger.lost.values()
    assert (loss.share, loss.first_missing_window, loss.worker) == (1, 1, "tcp://127.0.0.1:9")
    merger.add(1, 2, _window(2, [1_000]))  # too late: windows never change once emitted
    assert merger.ignored_windows == 1


def test_after_a_stop_the_ragged_tail_is_dropped() -> None:
    merger = _merger()
    for k in range(3):
        merger.add(0, k, _window(k, [1_000]))
    for k in range(2):
        merger.add(1, k, _window(k, [1_000]))
    merger.done(0, 2)
    merger.done(1, 1)
    assert [w.requests for w in merger.release(now_ns=0)] == [2, 2]
    assert merger.finished
