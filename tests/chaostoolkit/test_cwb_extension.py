"""The ``cwb`` extension: a Chaos Toolkit experiment measured as our suites are.

Every test runs real traffic on 127.0.0.1 against the real loopback service of
``ctk_support`` (and, for chaostoxi, through our real proxy server): the service is broken
through its admin endpoint (``POST /break``) or cut off by a disabled proxy during the
method, and the rollbacks repair it, ``/fix?after_ms=N`` keeping it broken N ms more so
that the measured recovery time has a known expected value.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from ctk_support import Service, run, write

from chaos_workbench.proxy.client import ToxiproxyClient
from chaos_workbench.proxy.server_process import start_proxy_server
from chaos_workbench.reports.json_report import read_json

WINDOW_MS = 100
FIX_DELAY_MS = 1000  # the service stays broken this long after the rollback


def _http(name: str, url: str, *, method: str = "GET", kind: str = "action") -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "provider": {"type": "http", "url": url, "method": method, "timeout": 3},
    }


def _broken_then_fixed(service: Service, **extension: Any) -> dict[str, Any]:
    """Break the service for ~1 s in the method; the rollback fixes it FIX_DELAY_MS later."""
    healthy = _http("health", f"{service.url}/health", kind="probe") | {"tolerance": 200}
    breaking = _http("break-it", f"{service.url}/break", method="POST")
    breaking["pauses"] = {"after": 1.0}
    return {
        "title": "The service breaks and comes back",
        "description": "Broken through its admin endpoint, fixed by the rollback.",
        "steady-state-hypothesis": {"title": "healthy", "probes": [healthy]},
        "method": [breaking],
        "rollbacks": [_http("fix-it", f"{service.url}/fix?after_ms={FIX_DELAY_MS}", method="POST")],
        "extensions": [
            {"name": "other-tool", "anything": True},
            {
                "name": "cwb",
                "traffic": {"url": f"{service.url}/health", "rate_per_s": 100},
                "slo": {"success_ratio": 0.99, "p99_ms": 500},
                "window_ms": WINDOW_MS,
                "recovery_timeout_s": 10,
            }
            | extension,
        ],
    }


@pytest.mark.slow
def test_impact_recovery_and_grade_are_measured_and_reported(
    service: Service, tmp_path: Path
) -> None:
    experiment = _broken_then_fixed(service)
    experiment["runtime"] = {"hypothesis": {"strategy": "before-method-only"}}
    result = run(write(tmp_path, "measured.json", experiment), tmp_path, {})

    assert result.code == 0, result.out  # Chaos Toolkit's exit code: completed
    assert result.journal["status"] == "completed"
    cwb = result.journal["cwb"]
    # Every request answered 500 while the method held the service broken.
    assert cwb["impact"] == "full_outage", result.out
    # Recovery counts from the end of the rollbacks: the service came back FIX_DELAY_MS
    # later; the first good request is at most one request interval (10 ms) after that,
    # plus scheduling noise.
    assert FIX_DELAY_MS - 50 <= cwb["recovery_time_ms"] <= FIX_DELAY_MS + 400, cwb
    # Users saw it from the first failed request (the method, ~1 s) to the recovery.
    assert 1000 + FIX_DELAY_MS - 100 <= cwb["disruption_ms"] <= 1000 + FIX_DELAY_MS + 1500, cwb
    assert cwb["status"] == "passed"
    assert cwb["grade"] == "A"
    # The Chaos Toolkit keys are untouched.
    assert {"steady_states", "run", "rollbacks", "deviated"} <= set(result.journal)

    report = read_json(Path(cwb["report"]))
    assert Path(cwb["report"]) == tmp_path / "cwb-report.json"
    assert report.grade == "A"
    (measured,) = report.results
    assert measured.name == "The service breaks and comes back"
    assert measured.recovery_time_ms == cwb["recovery_time_ms"]
    assert measured.phases["baseline"].successes == measured.phases["baseline"].requests > 0
    assert measured.phases["fault"].requests > 50
    assert measured.phases["fault"].successes == 0
    assert {w.phase for w in measured.timeline} == {"baseline", "fault", "recovery"}
    # Our scorecard comes after Chaos Toolkit's output.
    assert result.out.index("[chaostoolkit] journal written") < result.out.index("Grade")
    assert "full_outage" in result.out.split("[chaostoolkit] journal written")[1]


@pytest.mark.slow
def test_a_deviated_run_fails_and_keeps_chaos_toolkits_exit_code(
    service: Service, tmp_path: Path
) -> None:
    # The hypothesis after the method finds the service still broken: deviated.
    report = tmp_path / "elsewhere" / "ours.json"
    experiment = _broken_then_fixed(service, expect={"max_impact": "degraded"})
    result = run(write(tmp_path, "deviated.json", experiment), tmp_path, {}, report_path=report)

    assert result.code == 1
    assert result.journal["deviated"] is True
    cwb = result.journal["cwb"]
    assert cwb["status"] == "failed"
    assert "deviated" in cwb["reason"]
    assert "impact full_outage is worse than the allowed degraded" in cwb["reason"]
    assert cwb["grade"] == "F"
    assert cwb["recovery_time_ms"] is not None  # it recovered, late but within the timeout
    assert read_json(report).grade == "F"


@pytest.mark.slow
@pytest.mark.parametrize("measure", ["traffic", "probe"])
async def test_a_disabled_proxy_is_a_full_outage_and_recovers_after_the_rollback(
    service: Service, tmp_path: Path, measure: str
) -> None:
    server = await start_proxy_server(workdir=tmp_path / "proxy")
    try:
        async with ToxiproxyClient(server.api_url) as client:
            proxy = await client.create_proxy("svc", f"127.0.0.1:{service.port}")
        api_port = server.api_url.rsplit(":", 1)[1]
        toxi = {"type": "python", "module": "chaostoxi.proxy.actions"}
        experiment = {
            "title": "The dependency goes down",
            "description": "disable_proxy on our proxy, traffic going through it.",
            "configuration": {"toxiproxy_host": "127.0.0.1", "toxiproxy_port": int(api_port)},
            "method": [
                {
                    "type": "action",
                    "name": "down",
                    "provider": toxi
                    | {"func": "disable_proxy", "arguments": {"proxy_name": "svc"}},
                    "pauses": {"after": 1.0},
                }
            ],
            "rollbacks": [
                {
                    "type": "action",
                    "name": "up",
                    "provider": toxi | {"func": "enable_proxy", "arguments": {"proxy_name": "svc"}},
                }
            ],
            "extensions": [
                {
                    "name": "cwb",
                    # HTTP traffic through the proxy, or a TCP probe of its listener.
                    **(
                        {
                            "traffic": {
                                "url": f"http://{proxy.listen}/health",
                                "rate_per_s": 100,
                                "timeout_ms": 500,
                            }
                        }
                        if measure == "traffic"
                        else {"probe": {"kind": "tcp", "address": proxy.listen, "rate_per_s": 50}}
                    ),
                    "window_ms": WINDOW_MS,
                    "recovery_timeout_s": 10,
                }
            ],
        }
        path = write(tmp_path, "down.json", experiment)
        result = await asyncio.to_thread(run, path, tmp_path, {"PATH": "/usr/bin:/bin"})
    finally:
        await server.aclose()

    assert result.code == 0, result.out
    cwb = result.journal["cwb"]
    assert cwb["impact"] == "full_outage", result.out
    # Re-enabled: the proxy accepts at once; the first request after it succeeds.
    assert 0 <= cwb["recovery_time_ms"] <= 500, cwb
    assert cwb["status"] == "passed"
    assert cwb["grade"] == "A"
    measured = read_json(tmp_path / "cwb-report.json").results[0]
    assert measured.fault_type.value == "dependency_down"


def test_without_the_extension_nothing_is_measured(service: Service, tmp_path: Path) -> None:
    experiment = _broken_then_fixed(service)
    experiment["extensions"] = experiment["extensions"][:1]  # another tool's only
    experiment["runtime"] = {"hypothesis": {"strategy": "before-method-only"}}
    result = run(write(tmp_path, "plain.json", experiment), tmp_path, {})

    assert result.code == 0, result.out
    assert "cwb" not in result.journal
    assert result.journal["experiment"]["extensions"] == [{"name": "other-tool", "anything": True}]
    assert not (tmp_path / "cwb-report.json").exists()
    assert "Chaos Workbench" not in result.out  # no scorecard (paths may hold "cwb")
    assert "Grade" not in result.out
    # Only the experiment's own requests reached the service (hypothesis, break, fix).
    assert len(service.state.headers) == 3


def test_extension_problems_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "title: t\n"
        "description: d\n"
        "method:\n"
        "- type: probe\n"
        "  name: p\n"
        "  provider: {type: python, module: ctk_helpers, func: constant, arguments: {value: 1}}\n"
        "extensions:\n"
        "- name: other\n"
        "- name: cwb\n"
        "  traffic:\n"
        "    url: http://10.1.2.3:8080/health\n"
        "  slo: {success_ratio: 2}\n"
        "  window_ms: 1\n"
        "- name: cwb\n"
        "  traffic: {url: 'http://127.0.0.1:1/'}\n"
        "  probe: {kind: tcp, address: '127.0.0.1:1'}\n"
    )
    result = run(path, tmp_path, {})

    assert result.code == 2
    assert result.journal == {}
    lines = result.err.splitlines()
    assert any(f"{path}:12: extensions[1].slo.success_ratio:" in line for line in lines), lines
    assert any(f"{path}:13: extensions[1].window_ms:" in line for line in lines), lines
    assert any(
        f"{path}:14: extensions[2].name: a second cwb extension" in line for line in lines
    ), lines

    # Once the shape is right, the loopback check: the URL's own line.
    text = path.read_text().split("- name: cwb\n  traffic: {url")[0]
    path.write_text(text.replace("  slo: {success_ratio: 2}\n  window_ms: 1\n", ""))
    lines = run(path, tmp_path, {}).err.splitlines()
    assert any(
        f"{path}:11: extensions[1].traffic.url: '10.1.2.3' is not on loopback" in line
        for line in lines
    ), lines


def test_traffic_or_probe_is_required_and_probe_kinds_are_validated(tmp_path: Path) -> None:
    experiment = {
        "title": "t",
        "description": "d",
        "method": [_http("m", "http://127.0.0.1:1/")],
        "extensions": [{"name": "cwb", "probe": {"kind": "tcp", "address": "127.0.0.1:0"}}],
    }
    err = run(write(tmp_path, "probe.json", experiment), tmp_path, {}).err
    assert "extensions[0].probe.address: " in err, err
    experiment["extensions"] = [{"name": "cwb"}]
    err = run(write(tmp_path, "none.json", experiment), tmp_path, {}).err
    assert "extensions[0]: give either traffic or probe" in err, err
    data = json.loads((tmp_path / "none.json").read_text())
    assert data["extensions"] == [{"name": "cwb"}]


@pytest.mark.slow
def test_a_continuous_hypothesis_runs_beside_the_measurement(
    service: Service, tmp_path: Path
) -> None:
    """``continuously``: the hypothesis probes run in a thread during the method while the
    extension measures; each sees the broken service, and the measurement is unchanged."""
    experiment = _broken_then_fixed(service)
    experiment["runtime"] = {"hypothesis": {"strategy": "continuously"}}
    result = run(
        write(tmp_path, "continuous.json", experiment),
        tmp_path,
        {},
        hypothesis_frequency_s=0.2,
    )

    during = result.journal["steady_states"]["during"]
    # The thread starts with the method (before its baseline wait), so its first checks may
    # find the service healthy; every check after the break saw the 500s (about 1 s of
    # method at one check every 0.2 s).
    broken_at = result.journal["run"][0]["end"]  # ISO times in UTC: they sort as strings
    after_break = [s for s in during if s["probes"][0]["start"] > broken_at]
    assert len(after_break) >= 2, during
    assert not any(state["steady_state_met"] for state in after_break)
    # The hypothesis after the method still finds it broken (the fix is a rollback).
    assert result.journal["deviated"] is True
    cwb = result.journal["cwb"]
    assert cwb["impact"] == "full_outage", result.out
    assert FIX_DELAY_MS - 50 <= cwb["recovery_time_ms"] <= FIX_DELAY_MS + 400, cwb
    assert cwb["status"] == "failed"
    assert "deviated" in cwb["reason"]
