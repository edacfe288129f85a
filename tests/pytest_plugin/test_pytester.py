"""The plugin as a user's pytest session sees it: inner sessions run by pytester in a
subprocess (each starts its own session proxy server), checked by outcome and output."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# Shared by the inner tests: a real HTTP upstream in a thread and a timed GET.
HELPERS = '''
import http.server, threading, time
import httpx
import pytest

class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()

def timed_get(proxy):
    """(status or the exception's name, milliseconds) of one GET through the proxy."""
    started = time.perf_counter()
    try:
        with httpx.Client(trust_env=False, timeout=5) as http:
            outcome = http.get(f"http://{proxy.listen}/").status_code
    except httpx.TransportError as exc:
        outcome = type(exc).__name__
    return outcome, (time.perf_counter() - started) * 1000
'''


def inner(pytester: pytest.Pytester, **files: str) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(HELPERS)
    pytester.makepyfile(**files)


ISOLATION_AND_FAULTS = """
import httpx, pytest
from conftest import timed_get

def test_1_fails_inside_a_fault(cwb_proxy, upstream):
    db = cwb_proxy("db", upstream=upstream)
    with db.latency(300), db.http_error(500):
        raise AssertionError("fails while the faults are held")

def test_2_sees_no_fault(cwb_proxy, upstream):
    with httpx.Client(base_url=cwb_proxy.api_url, trust_env=False) as api:
        assert api.get("/proxies").json() == {}  # test 1's proxy is gone
    db = cwb_proxy("db", upstream=upstream)  # the same name is free again
    assert db.state().toxics == ()
    status, ms = timed_get(db)
    assert status == 200 and ms < 150, (status, ms)

@pytest.mark.cwb_faults("latency:300", "down", "http_error:503", "http_latency:300,jitter_ms=0", "none")
def test_each_fault(cwb_proxy, upstream, cwb_fault):
    db = cwb_proxy("db", upstream=upstream)
    with cwb_fault(db):
        status, ms = timed_get(db)
    print(f"FAULT {cwb_fault.spec} -> {status} in {ms:.0f} ms")
    if cwb_fault.name in ("latency", "http_latency"):
        assert status == 200 and ms >= 300
    elif cwb_fault.name == "down":
        assert status in ("ConnectError", "ReadError", "RemoteProtocolError")
    elif cwb_fault.name == "http_error":
        assert status == 503
    else:
        assert status == 200 and ms < 150
    assert timed_get(db)[0] == 200  # reverted after the block

async def test_async_test_uses_the_same_fixture(cwb_proxy, upstream):
    db = cwb_proxy("db", upstream=upstream)
    with db.http_error(418):
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"http://{db.listen}/")).status_code == 418
"""


def test_isolation_marker_and_async_use(pytester: pytest.Pytester) -> None:
    inner(pytester, test_inner=ISOLATION_AND_FAULTS)
    result = pytester.runpytest_subprocess("-rA", timeout=90)
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_1_fails_inside_a_fault*"])
    result.stdout.fnmatch_lines(["PASSED test_inner.py::test_2_sees_no_fault"])
    # One test per fault, named by it, each seeing its own fault (its assertions).
    specs = ("latency:300", "down", "http_error:503", "http_latency:300,jitter_ms=0", "none")
    for spec in specs:
        result.stdout.fnmatch_lines([f"PASSED test_inner.py::test_each_fault?{spec}?"])
    result.stdout.fnmatch_lines(["FAULT http_error:503 -> 503 in *"])
    result.stdout.fnmatch_lines(["FAULT down -> *Error in *"])
    result.stdout.fnmatch_lines(["PASSED test_inner.py::test_async_test_uses_the_same_fixture"])


UNKNOWN_FAULT = """
import pytest

@pytest.mark.cwb_faults("latency:5", "latenccy:5")
def test_unknown(cwb_fault):
    pass
"""

NO_MARKER = """
def test_fault_without_marker(cwb_fault):
    pass
"""

NEEDS_PROXY = """
def test_a(cwb_proxy):
    cwb_proxy("db", upstream="127.0.0.1:9")

def test_b(cwb_proxy):
    cwb_proxy("db", upstream="127.0.0.1:9")
"""


def test_a_taken_api_port_is_a_one_line_error_for_each_test(pytester: pytest.Pytester) -> None:
    inner(pytester, test_proxy=NEEDS_PROXY)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pytester.runpytest_subprocess(f"--cwb-proxy-api-port={port}", timeout=60)
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    why = f"cannot listen on 127.0.0.1:{port}: Address already in use"
    assert output.count(why) >= 2, output
    assert "Traceback" not in output
    assert "During handling" not in output
    assert "def cwb_proxy_server" not in output  # no fixture source dumped


def test_marker_mistakes_are_clear_errors(pytester: pytest.Pytester) -> None:
    inner(pytester, test_unknown=UNKNOWN_FAULT, test_no_marker=NO_MARKER)
    result = pytester.runpytest_subprocess("--continue-on-collection-errors", timeout=60)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*cwb_faults: unknown fault 'latenccy:5': 'latenccy' is none of*"])
    result.stdout.fnmatch_lines(['*cwb_fault needs @pytest.mark.cwb_faults("latency:500", ...)*'])
    output = result.stdout.str()
    assert "Traceback" not in output
    assert "During handling" not in output


RUN = """
import socket, sys
from pathlib import Path
import pytest
from chaos_workbench.model import ExperimentStatus, ImpactLevel

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def suite(tmp_path):
    web, listen = free_port(), free_port()
    return {
        "service": "static",
        "traffic": {"url": f"http://127.0.0.1:{listen}/", "rate_per_s": 20, "timeout_ms": 3000},
        "slo": {"success_ratio": 0.95, "p99_ms": 150},
        "processes": [{
            "name": "web",
            "command": [sys.executable, "-m", "http.server", str(web), "--bind", "127.0.0.1",
                        "--directory", str(tmp_path)],
            "ready": {"port": web, "timeout_s": 20},
        }],
        "proxies": [{"name": "dep", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{web}"}],
        "defaults": {"baseline_s": 1, "fault_s": 1.5, "recovery_timeout_s": 5, "warmup_timeout_s": 10},
        "experiments": [{
            "name": "slow",
            "fault": {"type": "latency", "proxy": "dep", "latency_ms": 400},
            "expect": {"max_impact": "degraded"},
        }],
    }

def test_sync_run_then_fail(cwb_run, tmp_path):
    record = cwb_run(suite(tmp_path))
    (result,) = record.results
    print("IMPACT", result.impact.value, result.status.value, result.reason)
    assert result.impact is ImpactLevel.DEGRADED
    assert result.impact <= ImpactLevel.DEGRADED
    assert (tmp_path / "cwb-report.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert (tmp_path / "cwb-run" / "report.json").is_file()
    assert record.score.grade == "A"
    raise AssertionError("failing on purpose to show the report path")

async def test_run_from_an_async_test(cwb_run, tmp_path):
    data = suite(tmp_path)
    data["experiments"][0]["fault"] = {"type": "down", "proxy": "dep"}
    data["experiments"][0]["expect"] = {"max_impact": "full_outage"}
    path = tmp_path / "suite.json"
    import json
    path.write_text(json.dumps(data))
    record = cwb_run(path)  # blocking call inside a running loop: a worker thread runs it
    assert record.results[0].impact is ImpactLevel.FULL_OUTAGE
    assert record.results[0].status is ExperimentStatus.PASSED
    assert (tmp_path / "cwb-report.html").is_file()
"""


@pytest.mark.slow
def test_cwb_run_returns_the_record_and_shows_the_report_on_failure(
    pytester: pytest.Pytester,
) -> None:
    inner(pytester, test_run=RUN)
    result = pytester.runpytest_subprocess("-s", timeout=110)
    output = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1)
    assert "IMPACT degraded passed" in output, output
    result.stdout.fnmatch_lines(["E * AssertionError: failing on purpose to show the report path"])
    result.stdout.fnmatch_lines(["*- cwb run report -*", "HTML report: *cwb-report.html"])
    match = re.search(r"^HTML report: (.+cwb-report\.html)$", output, re.MULTILINE)
    assert match is not None
    report = Path(match.group(1))
    assert report.is_file()
    assert "test_sync_run_then_fail" in str(report)
