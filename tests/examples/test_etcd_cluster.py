"""etcd-cluster runs for real (short phases: ``fast=True``) and shows what docs/examples.md
claims. It needs etcd and etcdctl (Debian etcd-server and etcd-client, installed by
.ci/install-system-deps.sh); without them it skips, naming what is missing.

One run serves every test (module-scoped): three members, four experiments, about 40 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_workbench.examples.catalog import find
from chaos_workbench.examples.run import ExampleRun, missing_binaries, run_example
from chaos_workbench.model import FaultResult, ImpactLevel

pytestmark = pytest.mark.slow

# example.yaml: --heartbeat-interval 100 --election-timeout 1000 (ms); suite.yaml: 20
# writes a second, 250 ms windows.
HEARTBEAT_MS, ELECTION_TIMEOUT_MS = 100, 1000
RATE_PER_S, WINDOW_MS = 20.0, 250
# After the leader dies, a follower campaigns once its randomised election timeout, drawn
# from [election timeout, 2 x election timeout), has passed since the last heartbeat it
# heard (at most one heartbeat interval before the kill); the vote itself takes a few ms
# on loopback. Every write sent meanwhile fails (etcd drops proposals while there is no
# leader; etcdctl gives up after its 1 s --command-timeout), so writes fail for between
# 900 and 2000 ms. The failures are counted, not timed, so allow one window either way.
BURST_MIN_MS = ELECTION_TIMEOUT_MS - HEARTBEAT_MS - WINDOW_MS
BURST_MAX_MS = 2 * ELECTION_TIMEOUT_MS + WINDOW_MS


def error_burst_ms(result: FaultResult) -> float:
    """How long writes failed while the fault was held: the failed writes of every window
    from the one holding the injection to the last one wholly before the revert, over the
    write rate (every write fails while there is no leader, whichever member it goes to)."""
    events = {e.kind: e.t_s for e in result.events}
    injected_s, revert_s = events["injected"], events["revert"]
    window_s = WINDOW_MS / 1000
    failed = sum(
        w.requests - w.successes
        for w in result.timeline
        if w.t_s + window_s > injected_s and w.t_s + window_s <= revert_s
    )
    return failed / RATE_PER_S * 1000.0


@pytest.fixture(scope="module")
def etcd_run(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    example = find("etcd-cluster")
    assert example is not None
    missing = missing_binaries(example)
    if missing:
        pytest.skip(f"etcd-cluster needs {missing} (run .ci/install-system-deps.sh)")
    run_dir: Path = tmp_path_factory.mktemp("etcd-cluster")
    return run_example("etcd-cluster", run_dir=run_dir / "run", fast=True, history=False)


def _result(outcome: ExampleRun, name: str) -> FaultResult:
    return next(r for r in outcome.record.results if r.name == name)


@pytest.mark.timeout(240)
def test_killing_the_leader_stops_writes_for_about_one_election(etcd_run: ExampleRun) -> None:
    kill = _result(etcd_run, "kill-leader")
    # The leader was found when the fault was applied, among the three members.
    assert "chosen by `etcdctl" in kill.details, kill.details
    assert any(f"SIGKILL to {m} " in kill.details for m in ("etcd1", "etcd2", "etcd3"))
    assert kill.recovered, kill.reason
    assert kill.impact in (ImpactLevel.PARTIAL_OUTAGE, ImpactLevel.FULL_OUTAGE)
    assert kill.disruption_ms is not None
    assert kill.disruption_ms > 0
    burst = error_burst_ms(kill)
    assert BURST_MIN_MS <= burst <= BURST_MAX_MS, burst
    # The engine's figure (first to last failed write) is the same election.
    assert kill.error_burst_ms is not None
    assert BURST_MIN_MS <= kill.error_burst_ms <= BURST_MAX_MS, kill.error_burst_ms


@pytest.mark.timeout(240)
def test_the_leader_s_proxy_down_does_not_isolate_it(etcd_run: ExampleRun) -> None:
    down = _result(etcd_run, "leader-peer-proxy-down")
    assert "-peer (in front of etcd" in down.reason, down.reason  # the leader's, when applied
    assert down.recovered, down.reason
    # An election would fail every write for at least election timeout - heartbeat. The
    # leader's messages fall back to rafthttp's pipeline instead: at most the writes in
    # flight on the cut connections fail (each after etcdctl's 1 s timeout).
    assert error_burst_ms(down) < ELECTION_TIMEOUT_MS - HEARTBEAT_MS - WINDOW_MS


@pytest.mark.timeout(240)
def test_partition_of_every_member_stops_writes_until_healed(etcd_run: ExampleRun) -> None:
    partition = _result(etcd_run, "partition-all-peers")
    # Writes sent in the last second before the heal wait for it and succeed (etcdctl waits
    # 1 s), so a 4 s partition is a full or (with more of those) a partial outage.
    assert partition.impact in (ImpactLevel.PARTIAL_OUTAGE, ImpactLevel.FULL_OUTAGE)
    assert partition.recovered, partition.reason
    # No quorum for the whole fault but its last second: far longer than any election.
    assert error_burst_ms(partition) > 2 * ELECTION_TIMEOUT_MS + WINDOW_MS


@pytest.mark.timeout(240)
def test_latency_on_the_leader_s_link_slows_writes_without_an_election(
    etcd_run: ExampleRun,
) -> None:
    latency = _result(etcd_run, "leader-peer-latency")
    assert "-peer (in front of etcd" in latency.reason, latency.reason
    assert latency.recovered, latency.reason
    assert error_burst_ms(latency) <= 2 * 1000 / RATE_PER_S  # at most a write or two lost
    baseline, fault = latency.phases["baseline"].p50_ms, latency.phases["fault"].p50_ms
    assert baseline is not None
    assert fault is not None
    # Every write waits for the leader's append to cross the slowed link once (twice when
    # etcdctl talks to a follower): the median grows by at least one delay, less jitter.
    assert fault - baseline >= 200 - 50, (baseline, fault)
