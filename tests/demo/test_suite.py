"""The shipped demo suite loads, and ``run_demo``'s environment wires it together.

A missing ``CWB_DEMO_*`` variable would not fail loading (every placeholder has a default),
it would silently point the demo at fixed ports: so the wiring is checked here.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from chaos_workbench.demo import DemoPorts, Resilience, demo_env, free_ports, suite_path
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ImpactLevel


def loaded(tmp_path: Path, mode: Resilience = Resilience.ON) -> tuple[DemoPorts, Suite]:
    ports = DemoPorts.pick()
    env = demo_env(mode, ports, tmp_path / "data")
    return ports, load_suite(suite_path(), env=env, copy=ports.places(tmp_path / "run"))


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(9)
    assert len(set(ports)) == 9
    assert all(1024 <= p <= 65535 for p in ports)


def test_every_placeholder_is_set_by_demo_env(tmp_path: Path) -> None:
    text = suite_path().read_text()
    names = set(re.findall(r"\$\{(CWB_DEMO_[A-Z_]+)", text))
    env = demo_env(Resilience.OFF, DemoPorts.pick(), tmp_path)
    assert names, "the suite uses no CWB_DEMO_* variables"
    assert names <= set(env), names - set(env)
    assert env["CWB_DEMO_RESILIENCE"] == "off"


def test_suite_wires_service_through_the_proxies(tmp_path: Path) -> None:
    ports, suite = loaded(tmp_path)
    assert suite.traffic.url == f"http://127.0.0.1:{ports.service}"
    proxies = {p.name: p for p in suite.proxies}
    assert set(proxies) == {"db", "cache", "queue", "payments"}
    for name in proxies:
        assert proxies[name].listen == f"127.0.0.1:{getattr(ports, f'{name}_proxy')}"
        assert proxies[name].upstream == f"127.0.0.1:{getattr(ports, name)}"

    processes = {p.name: p for p in suite.processes}
    assert list(processes) == ["db", "cache", "queue", "payments", "order-service"]
    for name, proc in processes.items():
        assert proc.command is not None
        module = proc.command[proc.command.index("-m") + 1]
        assert importlib.util.find_spec(module) is not None, module
        expected = ports.service if name == "order-service" else getattr(ports, name)
        assert proc.ready.port == expected
    service = processes["order-service"]
    assert service.command is not None
    argv = list(service.command)
    for dep in ("db", "cache", "queue", "payments"):  # the service only knows the proxies
        assert argv[argv.index(f"--{dep}") + 1] == proxies[dep].listen
    assert argv[argv.index("--resilience") + 1] == "on"
    assert service.memory_limit_mb == 256
    db_command = processes["db"].command
    assert db_command is not None
    assert f"{tmp_path / 'data'}/pg-{ports.db}" in db_command  # one data directory per copy


def test_suite_runs_the_four_experiments_with_resilience_expectations(tmp_path: Path) -> None:
    _, suite = loaded(tmp_path)
    faults = {e.name: e.fault.model_dump(exclude_none=True) for e in suite.experiments}
    assert faults["db-latency"].items() >= {
        ("type", "latency"),
        ("proxy", "db"),
        ("latency_ms", 500),
    }
    assert faults["payments-errors"].items() >= {
        ("type", "http_error"),
        ("proxy", "payments"),
        ("status", 503),
        ("probability", 0.8),
    }
    assert faults["memory-pressure"].items() >= {
        ("type", "memory_pressure"),
        ("process", "order-service"),
        ("percent", 70),
    }
    assert faults["kill-db"].items() >= {("type", "process_kill"), ("process", "db")}
    for experiment in suite.experiments:
        assert experiment.expect.max_impact is ImpactLevel.DEGRADED
        assert experiment.expect.recovery_within_s == 10
    # The whole demo must fit in three minutes: worst case per experiment is
    # baseline + fault + recovery timeout.
    d = suite.defaults
    assert len(suite.experiments) * (d.baseline_s + d.fault_s + d.recovery_timeout_s) <= 150
    read_paths = [r.path for r in suite.traffic.requests if r.method == "GET"]
    assert read_paths
    assert all(1 <= int(p.rsplit("/", 1)[1]) <= 50 for p in read_paths)  # seeded ids
