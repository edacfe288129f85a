"""Running Chaos Toolkit experiments (tutorial style, JSON and YAML) against a real service."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from ctk_support import EXPERIMENTS, Service, run, write

from chaos_workbench.chaostoolkit import is_chaostoolkit_experiment


@pytest.fixture
def env(service: Service) -> dict[str, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    return {
        "SERVICE_URL": service.url,
        "DEAD_URL": f"http://127.0.0.1:{dead}",
        "PATH": "/usr/bin:/bin",
    }


def names(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["activity"]["name"], e["status"]) for e in entries]


def test_a_completed_experiment_writes_chaos_toolkits_journal(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    result = run(EXPERIMENTS / "completed.json", tmp_path, env)
    assert result.code == 0, result.out + result.err
    journal = result.journal
    assert {
        "chaoslib-version",
        "platform",
        "node",
        "experiment",
        "start",
        "end",
        "duration",
        "status",
        "deviated",
        "steady_states",
        "run",
        "rollbacks",
    } <= set(journal)
    assert journal["status"] == "completed"
    assert journal["deviated"] is False
    assert journal["experiment"]["title"].startswith("The service keeps answering")
    assert names(journal["run"]) == [("record-a-hit", "succeeded"), ("hits-so-far", "succeeded")]
    # the POST went out as JSON (the Content-Type header says so), once, with substitution
    assert [(h["content_type"], json.loads(h["body"])) for h in service.state.hits] == [
        ("application/json", {"who": "chaos"})
    ]
    hits = journal["run"][1]["output"]
    assert hits["status"] == 200
    assert hits["body"] == {"count": 1}
    assert set(hits) == {"status", "headers", "body"}
    assert journal["run"][0]["duration"] >= 0
    assert journal["run"][0]["end"] >= journal["run"][0]["start"]
    before, after = journal["steady_states"]["before"], journal["steady_states"]["after"]
    assert before["steady_state_met"]
    assert after["steady_state_met"]
    assert before["probes"][0]["tolerance_met"] is True
    assert names(journal["rollbacks"]) == [("fix-the-service", "succeeded")]
    # pauses.after: the second activity starts at least 0.1 s after the first ended
    gap = _seconds(journal["run"][1]["start"]) - _seconds(journal["run"][0]["end"])
    assert gap >= 0.09


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_a_deviated_experiment_exits_1_and_its_rollback_repairs(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    result = run(EXPERIMENTS / "deviated.yaml", tmp_path, env)
    assert result.code == 1
    assert result.journal["status"] == "completed"
    assert result.journal["deviated"] is True
    after = result.journal["steady_states"]["after"]
    assert after["steady_state_met"] is False
    assert after["probes"][0]["output"]["status"] == 500
    assert service.state.broken is False  # the rollback ran
    assert "deviated" in result.out


def test_a_failed_action_is_recorded_and_the_run_carries_on(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run(EXPERIMENTS / "failed_action.json", tmp_path, env)
    run_entries = result.journal["run"]
    assert names(run_entries) == [
        ("call-a-service-that-is-down", "failed"),
        ("run-a-command", "succeeded"),
    ]
    assert "failed to connect" in "".join(run_entries[0]["exception"])
    assert run_entries[1]["output"] == {"status": 0, "stdout": "still running\n", "stderr": ""}
    assert (result.code, result.journal["status"], result.journal["deviated"]) == (
        0,
        "completed",
        False,
    )


def test_a_steady_state_not_met_before_skips_the_method(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    result = run(EXPERIMENTS / "before_not_met.yaml", tmp_path, env)
    assert result.journal["run"] == []
    assert service.state.broken is False
    assert result.journal["steady_states"]["before"]["steady_state_met"] is False
    assert result.journal["steady_states"]["after"] is None
    assert (result.code, result.journal["status"]) == (0, "completed")  # as chaos run


def test_our_suites_and_garbage_are_not_chaos_toolkit_experiments(tmp_path: Path) -> None:
    assert is_chaostoolkit_experiment(EXPERIMENTS / "completed.json")
    assert is_chaostoolkit_experiment(EXPERIMENTS / "deviated.yaml")
    demo = Path(__file__).parents[2] / "src/chaos_workbench/demo/suite.yaml"
    assert not is_chaostoolkit_experiment(demo)
    mixed = write(tmp_path, "mixed.json", {"title": "t", "method": [], "experiments": []})
    assert not is_chaostoolkit_experiment(mixed)
    (tmp_path / "bad.yaml").write_text("method: [\n")
    assert not is_chaostoolkit_experiment(tmp_path / "bad.yaml")
    assert not is_chaostoolkit_experiment(tmp_path / "missing.json")
    only_ssh = write(
        tmp_path, "ssh.json", {"steady-state-hypothesis": {"title": "x"}, "method": []}
    )
    assert is_chaostoolkit_experiment(only_ssh)


def _probe(
    name: str, provider: dict[str, Any], tolerance: Any = None, **extra: Any
) -> dict[str, Any]:
    probe: dict[str, Any] = {"type": "probe", "name": name, "provider": provider, **extra}
    if tolerance is not None:
        probe["tolerance"] = tolerance
    return probe


def _experiment(**parts: Any) -> dict[str, Any]:
    return {
        "title": "t",
        "description": "d",
        "configuration": {"service_url": {"type": "env", "key": "SERVICE_URL"}},
        "method": [],
        **parts,
    }


def test_background_activities_run_in_parallel(env: dict[str, str], tmp_path: Path) -> None:
    sleep = {"type": "process", "path": "sleep", "arguments": ["0.6"]}
    experiment = _experiment(
        method=[
            {"type": "action", "name": "slow-1", "provider": sleep, "background": True},
            {"type": "action", "name": "slow-2", "provider": sleep, "background": True},
            {"type": "action", "name": "quick", "provider": {"type": "process", "path": "true"}},
        ]
    )
    started = time.monotonic()
    result = run(write(tmp_path, "bg.json", experiment), tmp_path, env)
    elapsed = time.monotonic() - started
    assert result.code == 0
    assert sorted(names(result.journal["run"])) == [
        ("quick", "succeeded"),
        ("slow-1", "succeeded"),
        ("slow-2", "succeeded"),
    ]
    assert result.journal["run"][0]["activity"]["name"] == "quick"  # done first
    assert 0.6 <= elapsed < 1.15  # both sleeps at once, and the run waited for them


def test_a_ref_runs_the_named_activity_again(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    health = _probe("health", {"type": "http", "url": "${service_url}/health"}, 200)
    experiment = _experiment(
        **{"steady-state-hypothesis": {"title": "ok", "probes": [health]}},
        method=[
            {
                "type": "action",
                "name": "break",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/break"},
            },
            {"ref": "health"},
        ],
        rollbacks=[
            {
                "type": "action",
                "name": "fix",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/fix"},
            },
        ],
    )
    result = run(write(tmp_path, "ref.json", experiment), tmp_path, env)
    assert names(result.journal["run"]) == [("break", "succeeded"), ("health", "succeeded")]
    assert result.journal["run"][1]["output"]["status"] == 500
    assert result.journal["run"][1]["activity"]["provider"]["url"] == "${service_url}/health"


@pytest.mark.parametrize(
    ("strategy", "before", "after", "during"),
    [
        ("default", True, True, False),
        ("before-method-only", True, False, False),
        ("after-method-only", False, True, False),
        ("during-method-only", False, False, True),
        ("continuously", True, True, True),
    ],
)
def test_hypothesis_strategies(
    strategy: str, before: bool, after: bool, during: bool, env: dict[str, str], tmp_path: Path
) -> None:
    health = _probe("health", {"type": "http", "url": "${service_url}/health"}, 200)
    experiment = _experiment(
        **{"steady-state-hypothesis": {"title": "ok", "probes": [health]}},
        method=[
            {
                "type": "action",
                "name": "wait",
                "provider": {"type": "process", "path": "sleep", "arguments": "0.5"},
            }
        ],
    )
    result = run(
        write(tmp_path, "s.json", experiment),
        tmp_path,
        env,
        hypothesis_strategy=strategy,
        hypothesis_frequency_s=0.1,
    )
    states = result.journal["steady_states"]
    assert (states["before"] is not None, states["after"] is not None) == (before, after)
    assert (len(states["during"]) >= 2) == during, len(states["during"])
    assert all(s["steady_state_met"] for s in states["during"])
    assert result.code == 0


def test_failing_fast_during_the_method(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    health = _probe("health", {"type": "http", "url": "${service_url}/health"}, 200)
    experiment = _experiment(
        **{"steady-state-hypothesis": {"title": "ok", "probes": [health]}},
        method=[
            {
                "type": "action",
                "name": "break",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/break"},
            },
            {
                "type": "action",
                "name": "wait",
                "provider": {"type": "process", "path": "sleep", "arguments": "0.6"},
            },
            {
                "type": "action",
                "name": "never-reached",
                "provider": {"type": "process", "path": "true"},
            },
        ],
    )
    result = run(
        write(tmp_path, "ff.json", experiment),
        tmp_path,
        env,
        hypothesis_strategy="during-method-only",
        hypothesis_frequency_s=0.1,
        fail_fast=True,
    )
    assert result.journal["status"] == "failed"
    assert result.code == 1
    assert "never-reached" not in [n for n, _ in names(result.journal["run"])]
    assert result.journal["steady_states"]["during"][-1]["steady_state_met"] is False


def test_a_method_probe_tolerance_warns_or_fails(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    experiment = _experiment(
        method=[_probe("is-a-teapot", {"type": "http", "url": "${service_url}/health"}, 418)],
        rollbacks=[
            {
                "type": "action",
                "name": "fix",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/fix"},
            }
        ],
    )
    path = write(tmp_path, "mt.json", experiment)
    warned = run(path, tmp_path, env)
    assert warned.code == 0
    assert "warning: probe 'is-a-teapot' is not within its tolerance" in warned.out
    assert warned.journal["run"][0]["tolerance_met"] is False
    failed = run(path, tmp_path, env, fail_on_method_tolerance=True)
    assert failed.code == 1
    assert failed.journal["status"] == "failed"
    assert names(failed.journal["rollbacks"]) == [("fix", "succeeded")]  # our default: always
    ctk_default = run(
        path, tmp_path, env, fail_on_method_tolerance=True, rollback_strategy="default"
    )
    assert ctk_default.journal["rollbacks"] == []  # Chaos Toolkit's: not after a failure


@pytest.mark.parametrize(
    ("strategy", "played_when_deviated", "played_when_not"),
    [
        (None, True, True),
        ("default", True, True),
        ("always", True, True),
        ("never", False, False),
        ("deviated", True, False),
    ],
)
def test_rollback_strategies(
    strategy: str | None,
    played_when_deviated: bool,
    played_when_not: bool,
    service: Service,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    deviated = run(EXPERIMENTS / "deviated.yaml", tmp_path, env, rollback_strategy=strategy)
    assert bool(deviated.journal["rollbacks"]) == played_when_deviated
    assert service.state.broken is not played_when_deviated
    service.state.broken = False
    completed = run(EXPERIMENTS / "completed.json", tmp_path, env, rollback_strategy=strategy)
    assert bool(completed.journal["rollbacks"]) == played_when_not


def test_configuration_secrets_and_substitution(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    experiment = _experiment(
        configuration={
            "service_url": {"type": "env", "key": "SERVICE_URL"},
            "greeting": "hello",
            "retries": {"type": "env", "key": "RETRIES", "env_var_type": "int"},
            "ratio": {"type": "env", "key": "RATIO", "default": "0.5", "env_var_type": "float"},
            "enabled": {"type": "env", "key": "ENABLED", "env_var_type": "bool"},
            "limits": {"type": "env", "key": "LIMITS", "env_var_type": "json"},
            "region": {"type": "env", "key": "UNSET_REGION", "default": "eu-west"},
        },
        secrets={"api": {"token": {"type": "env", "key": "API_TOKEN"}, "user": "bob"}},
        method=[
            {
                "type": "probe",
                "name": "show",
                "provider": {
                    "type": "python",
                    "module": "ctk_helpers",
                    "func": "show",
                    "secrets": ["api"],
                    "arguments": {
                        "retries": "${retries}",
                        "text": "${greeting} ${region} x${retries}",
                        "nested": ["${limits}"],
                    },
                },
            },
            {
                "type": "probe",
                "name": "header",
                "provider": {
                    "type": "http",
                    "url": "${service_url}/text",
                    "headers": {"Authorization": "Bearer ${token}"},
                    "arguments": {"q": "${greeting}"},
                },
            },
            {
                "type": "probe",
                "name": "echo",
                "provider": {
                    "type": "process",
                    "path": "echo",
                    "arguments": ["${greeting}", "$region", 3],
                },
            },
        ],
    )
    env = {**env, "RETRIES": "3", "ENABLED": "no", "LIMITS": '{"max": 2}', "API_TOKEN": "s3cret"}
    result = run(write(tmp_path, "conf.json", experiment), tmp_path, env)
    assert result.code == 0, result.out + result.err
    shown = result.journal["run"][0]["output"]
    assert shown["arguments"] == {"retries": 3, "text": "hello eu-west x3", "nested": [{"max": 2}]}
    configuration = shown["configuration"]
    assert (configuration["ratio"], configuration["enabled"], configuration["retries"]) == (
        0.5,
        False,
        3,
    )
    assert shown["secrets"] == {"token": "s3cret", "user": "bob"}
    assert service.state.headers[-1]["Authorization"] == "Bearer s3cret"
    assert (
        result.journal["run"][1]["output"]["body"] == "hello from the service, query=/text?q=hello"
    )
    assert result.journal["run"][2]["output"]["stdout"] == "hello eu-west 3\n"


def test_python_provider_exceptions_fail_the_activity(env: dict[str, str], tmp_path: Path) -> None:
    experiment = _experiment(
        method=[
            {
                "type": "action",
                "name": "boom",
                "provider": {
                    "type": "python",
                    "module": "ctk_helpers",
                    "func": "boom",
                    "arguments": {"message": "kaput"},
                },
            }
        ],
    )
    result = run(write(tmp_path, "boom.json", experiment), tmp_path, env)
    entry = result.journal["run"][0]
    assert entry["status"] == "failed"
    assert "RuntimeError: kaput" in "".join(entry["exception"])
    assert result.code == 0  # as chaos run: a failed action does not fail the run


def test_process_status_stdout_stderr_and_timeout(env: dict[str, str], tmp_path: Path) -> None:
    experiment = _experiment(
        method=[
            {
                "type": "probe",
                "name": "shell",
                "provider": {
                    "type": "process",
                    "path": "sh",
                    "arguments": "-c 'echo out; echo err >&2; exit 3'",
                },
            },
            {
                "type": "probe",
                "name": "slow",
                "provider": {
                    "type": "process",
                    "path": "sleep",
                    "arguments": ["5"],
                    "timeout": 0.3,
                },
            },
        ],
    )
    result = run(write(tmp_path, "proc.json", experiment), tmp_path, env)
    shell, slow = result.journal["run"]
    assert shell["output"] == {"status": 3, "stdout": "out\n", "stderr": "err\n"}
    assert slow["status"] == "failed"
    assert slow["duration"] < 2


def test_the_experiments_runtime_section_sets_the_strategies(
    service: Service, env: dict[str, str], tmp_path: Path
) -> None:
    health = _probe("health", {"type": "http", "url": "${service_url}/health"}, 200)
    experiment = _experiment(
        runtime={"rollbacks": {"strategy": "never"}, "hypothesis": {"strategy": "skip"}},
        **{"steady-state-hypothesis": {"title": "ok", "probes": [health]}},
        method=[
            {
                "type": "action",
                "name": "break",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/break"},
            }
        ],
        rollbacks=[
            {
                "type": "action",
                "name": "fix",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/fix"},
            }
        ],
    )
    path = write(tmp_path, "rt.json", experiment)
    result = run(path, tmp_path, env)
    assert result.journal["steady_states"]["before"] is None
    assert result.journal["rollbacks"] == []
    assert service.state.broken
    overridden = run(path, tmp_path, env, rollback_strategy="always", hypothesis_strategy="default")
    assert overridden.journal["steady_states"]["before"]["steady_state_met"] is False
    assert overridden.journal["rollbacks"] != []
    bad = run(path, tmp_path, env, rollback_strategy="sometimes")
    assert bad.code == 2
    assert "unknown rollback strategy 'sometimes'" in bad.err
