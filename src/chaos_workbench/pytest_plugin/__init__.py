"""The pytest plugin: fault proxies, faults as context managers, and suite runs in tests.

Installed with the package (entry point ``pytest11``), it adds, with nothing to import:

* ``cwb_proxy`` — ``db = cwb_proxy("db", upstream="127.0.0.1:5432")`` creates a proxy on a
  free loopback port (``db.listen``, ``db.host``, ``db.port``); every fault is a context
  manager that reverts on exit: ``with db.latency(500):``, ``with db.down():``,
  ``with db.http_error(503, probability=0.5):``, ``with db.toxic("bandwidth", rate=100):``.
  The proxies a test creates are deleted when it ends, passed or failed.
* ``cwb_run`` — ``record = cwb_run("suite.yaml")`` (or a dict, or a ``Suite``) runs a suite
  and returns its :class:`~chaos_workbench.model.RunRecord`; the HTML report goes to
  ``tmp_path / "cwb-report.html"`` and its path is shown when the test fails.
* ``@pytest.mark.cwb_faults("latency:500", "down", "http_error:503")`` — one test per
  fault; the test's ``cwb_fault`` applies it: ``with cwb_fault(db): ...``.

One fault proxy server (``cwb proxy serve``, a child process) serves the whole session; it
starts the first time a test asks for ``cwb_proxy`` (or ``cwb_proxy_server``). Options:
``--cwb-proxy-host`` (default 127.0.0.1) and ``--cwb-proxy-api-port`` (default 0: any free
port). See docs/pytest.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos_workbench.proxy.client import ProxyClientError
from chaos_workbench.pytest_plugin._faults import Fault, parse_fault
from chaos_workbench.pytest_plugin._proxies import Proxy, ProxyFactory
from chaos_workbench.pytest_plugin._run import SuiteRunner
from chaos_workbench.pytest_plugin._server import ProxyServer, SyncApi, start_server

__all__ = ["Fault", "Proxy", "ProxyFactory", "ProxyServer", "SuiteRunner"]

_REPORTS = pytest.StashKey[list[Path]]()
MARKER = "cwb_faults"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos-workbench", "Chaos Workbench fault proxy")
    group.addoption(
        "--cwb-proxy-host",
        default="127.0.0.1",
        help="address the session's fault proxy API and its proxies listen on "
        "(default 127.0.0.1: loopback only)",
    )
    group.addoption(
        "--cwb-proxy-api-port",
        type=int,
        default=0,
        help="port of the session's fault proxy API (default 0: any free port)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f'{MARKER}(*faults): run the test once per fault ("latency:500", "down", '
        '"http_error:503", ...); the test applies it with `with cwb_fault(proxy):`',
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    where = metafunc.definition.nodeid
    if "cwb_fault" not in metafunc.fixturenames:
        pytest.fail(
            f"{where}: @{MARKER} needs the test to take the cwb_fault fixture", pytrace=False
        )
    if not marker.args or not all(isinstance(a, str) for a in marker.args):
        pytest.fail(
            f'{where}: @{MARKER} takes fault strings, e.g. "latency:500", "down"', pytrace=False
        )
    faults, problems = [], []
    for spec in marker.args:
        try:
            faults.append(parse_fault(spec))
        except ValueError as exc:  # reported below, outside the handler: no chained traceback
            problems.append(str(exc))
    if problems:
        pytest.fail(f"{where}: {'; '.join(problems)}", pytrace=False)
    metafunc.parametrize("cwb_fault", faults, ids=[f.spec for f in faults], indirect=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    reports = item.stash.get(_REPORTS, [])
    if report.failed and reports:
        lines = "\n".join(f"HTML report: {path}" for path in reports)
        report.sections.append(("cwb run report", lines))
    return report


@pytest.fixture(scope="session")
def cwb_proxy_server(pytestconfig: pytest.Config) -> Iterator[ProxyServer]:
    """The session's fault proxy server (``api_url``, ``pid``), started on first use."""
    host = str(pytestconfig.getoption("cwb_proxy_host"))
    port = int(pytestconfig.getoption("cwb_proxy_api_port"))
    problem = ""
    try:
        server = start_server(host, port)
    except ProxyClientError as exc:
        problem = str(exc)  # reported outside the handler: one line, no chained traceback
    if problem:
        pytest.fail(
            f"cwb: the fault proxy server did not start: {problem} "
            f"(--cwb-proxy-host={host} --cwb-proxy-api-port={port})",
            pytrace=False,
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _cwb_api(cwb_proxy_server: ProxyServer) -> Iterator[SyncApi]:
    api = SyncApi(cwb_proxy_server.api_url)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def cwb_proxy(_cwb_api: SyncApi, pytestconfig: pytest.Config) -> Iterator[ProxyFactory]:
    """A factory: ``cwb_proxy("db", upstream="127.0.0.1:5432")`` → a :class:`Proxy`."""
    factory = ProxyFactory(_cwb_api, str(pytestconfig.getoption("cwb_proxy_host")))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def cwb_run(tmp_path: Path, request: pytest.FixtureRequest) -> SuiteRunner:
    """``cwb_run(suite)`` → the run's ``RunRecord``; report at ``tmp_path/cwb-report.html``."""
    runner = SuiteRunner(tmp_path)
    request.node.stash[_REPORTS] = runner.reports  # the list fills as runs finish
    request.node.user_properties.append(("cwb_report", str(tmp_path / "cwb-report.html")))
    return runner


@pytest.fixture
def cwb_fault(request: pytest.FixtureRequest) -> Fault:
    """This case's fault of ``@pytest.mark.cwb_faults(...)``: ``with cwb_fault(proxy): ...``."""
    fault = getattr(request, "param", None)
    if not isinstance(fault, Fault):
        pytest.fail(
            f'cwb_fault needs @pytest.mark.{MARKER}("latency:500", ...) on the test', pytrace=False
        )
    return fault
