"""Every Kubernetes fault, in every selector mode, renders an object the real Chaos Mesh
CRD schema (v2.8.3, vendored in ``data/``) accepts; wrong objects are rejected by the same
check; faults without a Chaos Mesh equivalent are refused at validation with file, line,
field and reason. Only schemas here: no API server or admission webhook runs (see
docs/kubernetes.md for what that leaves unchecked)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_workbench.chaosmesh import kube_fault_models, render
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import parse_suite

from .crd import problems, validators

HEADER = """\
service: shop
kubernetes: {namespace: shop, duration_margin_s: 60}
traffic: {url: "http://192.0.2.10:30080/", rate_per_s: 20}
blast_radius: {hosts: [192.0.2.10]}
defaults: {fault_s: 30}
"""

PODS = {"labels": {"app": "db"}}
FAULTS: dict[str, list[dict[str, Any]]] = {
    "latency": [
        {"latency_ms": 200, "jitter_ms": 20},
        {"latency_ms": 50, "direction": "both", "target": {"labels": {"app": "api"}}},
    ],
    "down": [{}, {"direction": "both", "external_targets": ["10.0.0.1"]}],
    "toxic": [{"toxic": "bandwidth", "rate_kb_per_s": 64}, {"toxic": "loss", "loss_pct": 25}],
    "http_error": [{"port": 8080, "status": 500, "path": "/api/*", "method": "GET"}],
    "http_latency": [{"port": 8080, "latency_ms": 300, "stage": "Response"}],
    "http_abort": [{"port": 80}],
    "process_kill": [
        {},
        {"action": "container-kill", "containers": ["db"]},
        {"action": "pod-failure"},
        {"grace_period_s": 5},
    ],
    "process_restart": [{"containers": ["db"]}, {"action": "pod-kill"}],
    "cpu_pressure": [{"workers": 2, "load_pct": 80}],
    "memory_pressure": [{"size_mb": 256}, {"percent": 50, "containers": ["db"]}],
    "clock_skew": [{"offset_s": -300}, {"offset_s": 1.5, "containers": ["db"]}],
    "io_stress": [
        {"volume_path": "/var/lib/db", "latency_ms": 100, "path": "/var/lib/db/**/*"},
        {"volume_path": "/data", "action": "fault", "errno": 5, "percent": 50},
    ],
}
MODES: list[dict[str, Any]] = [
    {"mode": "one"},
    {"mode": "all"},
    {"mode": "fixed", "value": 2},
    {"mode": "fixed-percent", "value": 50, "namespaces": ["shop", "other"]},
]
CASES = [
    (kind, params, mode)
    for kind, variants in FAULTS.items()
    for params in variants
    for mode in MODES
]


def _suite(faults: list[dict[str, Any]]) -> str:
    experiments = [{"name": f"e{i}", "fault": f} for i, f in enumerate(faults)]
    return HEADER + yaml.safe_dump({"experiments": experiments}, sort_keys=False)


def test_the_cases_cover_every_kubernetes_fault() -> None:
    assert set(FAULTS) == set(kube_fault_models())


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """One suite with every case, loaded by the real loader, each experiment rendered."""
    faults = [{"type": kind, **params, "pods": {**PODS, **mode}} for kind, params, mode in CASES]
    suite = parse_suite(_suite(faults))
    assert suite.kubernetes is not None
    return [
        render(e.fault, kube=suite.kubernetes, run_id="r1", index=i, hold_s=30.0, experiment=e.name)  # type: ignore[arg-type]
        for i, e in enumerate(suite.experiments)
    ]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=lambda c: str(c))
def test_every_rendered_object_passes_the_crd_schema(
    rendered: list[dict[str, Any]], index: int, case: tuple[str, Any, Any]
) -> None:
    manifest = rendered[index]
    assert problems(manifest) == []
    spec = manifest["spec"]
    assert spec["duration"] == "90s"  # the hold (30 s) plus the margin (60 s)
    assert spec["mode"] == case[2]["mode"]
    assert spec.get("value") == (str(case[2]["value"]) if "value" in case[2] else None)
    assert manifest["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "chaos-workbench",
        "chaos-workbench/run": "r1",
    }
    assert manifest["metadata"]["name"] == f"cwb-r1-{index}"


def test_the_mapping_of_each_fault(rendered: list[dict[str, Any]]) -> None:
    """Kind and action per fault type, and unit conversions (KB/s → kbps, s → ms)."""
    by_type = {}
    for (kind, params, _), manifest in zip(CASES, rendered, strict=True):
        by_type.setdefault((kind, str(params)), manifest)
    first = {kind: m for (kind, _), m in reversed(by_type.items())}
    assert first["latency"]["kind"] == "NetworkChaos"
    assert first["latency"]["spec"]["delay"] == {"latency": "200ms", "jitter": "20ms"}
    assert first["down"]["spec"]["action"] == "partition"
    bandwidth = by_type[("toxic", str(FAULTS["toxic"][0]))]["spec"]
    assert bandwidth["action"] == "bandwidth"
    assert bandwidth["bandwidth"]["rate"] == "512kbps"
    assert by_type[("toxic", str(FAULTS["toxic"][1]))]["spec"]["loss"] == {"loss": "25"}
    assert first["http_error"]["spec"]["replace"] == {"code": 500}
    assert first["http_abort"]["spec"]["abort"] is True
    assert first["process_kill"]["spec"]["action"] == "pod-kill"
    assert first["process_restart"]["spec"]["action"] == "container-kill"
    assert first["cpu_pressure"]["spec"]["stressors"] == {"cpu": {"workers": 2, "load": 80}}
    assert first["clock_skew"]["spec"]["timeOffset"] == "-300000ms"
    assert first["io_stress"]["kind"] == "IOChaos"
    assert first["io_stress"]["spec"]["delay"] == "100ms"


def test_the_schema_check_rejects_wrong_objects(rendered: list[dict[str, Any]]) -> None:
    """The validator is not vacuous: an unknown field, a wrong enum, a wrong type fail."""
    good = rendered[0]
    assert problems(good) == []
    unknown = copy.deepcopy(good)
    unknown["spec"]["delay"]["latnecy"] = "1ms"
    assert any("latnecy" in p for p in problems(unknown))
    bad_mode = copy.deepcopy(good)
    bad_mode["spec"]["mode"] = "random"
    assert any(p.startswith("spec.mode") for p in problems(bad_mode))
    value_as_int = copy.deepcopy(rendered[2])  # mode fixed: value must be a string
    value_as_int["spec"]["value"] = 2
    assert any(p.startswith("spec.value") for p in problems(value_as_int))
    no_action = copy.deepcopy(good)
    del no_action["spec"]["action"]
    assert any("'action' is a required property" in p for p in problems(no_action))
    assert set(validators()) == {
        "NetworkChaos",
        "HTTPChaos",
        "PodChaos",
        "StressChaos",
        "TimeChaos",
        "IOChaos",
    }


@pytest.mark.parametrize(
    ("fault", "field", "reason"),
    [
        ({"type": "disk_fill", "path": "/x"}, "type", "no chaos that fills a disk"),
        ({"type": "process_pause"}, "type", "#1924"),
        ({"type": "toxic", "toxic": "slicer"}, "toxic", "no equivalent"),
        ({"type": "toxic", "toxic": "reset_peer"}, "toxic", "no equivalent"),
        ({"type": "no_such"}, "type", "no Chaos Mesh equivalent"),
        ({"type": "latency", "latency_ms": 5, "direction": "from"}, "", "needs 'target'"),
        ({"type": "process_kill", "action": "container-kill"}, "", "needs 'containers'"),
    ],
)
def test_faults_without_an_equivalent_are_refused_with_the_reason(
    fault: dict[str, Any], field: str, reason: str
) -> None:
    text = _suite([{**fault, "pods": PODS}])
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, file="k.yaml")
    [problem] = caught.value.problems
    key = f"{field}:" if field else "fault:"
    line = 1 + next(i for i, t in enumerate(text.splitlines()) if t.strip().startswith(key))
    assert (problem.file, problem.line) == ("k.yaml", line)
    assert problem.path == "experiments[0].fault" + (f".{field}" if field else "")
    assert reason in problem.message


@pytest.mark.parametrize(
    ("pods", "message"),
    [
        ({"labels": {"app": "db"}, "mode": "fixed"}, "needs 'value'"),
        ({"labels": {"app": "db"}, "mode": "fixed-percent", "value": 150}, "1 to 100"),
        ({"labels": {"app": "db"}, "mode": "all", "value": 3}, "takes no 'value'"),
        ({"labels": {}}, "at least 1"),
        ({"labels": {"app": "db"}, "namespaces": ["Bad_NS"]}, "not a valid Kubernetes name"),
        ({"labels": {"app": "db stable"}}, "label value 'db stable'"),
        ({"labels": {"Example.com/app": "db"}}, "label key 'Example.com/app'"),
    ],
)
def test_selector_rules_of_the_admission_webhook(pods: dict[str, Any], message: str) -> None:
    with pytest.raises(SuiteError) as caught:
        parse_suite(_suite([{"type": "down", "pods": pods}]))
    assert any(message in p.message for p in caught.value.problems)


@pytest.mark.slow  # starts cwb in a child process (a few seconds each)
def test_kube_render_prints_the_objects_and_refuses_bad_suites(tmp_path: Path) -> None:
    """``cwb kube render``, as a user runs it: YAML on stdout, or exit 2 with file:line."""
    good = tmp_path / "good.yaml"
    good.write_text(_suite([{"type": "latency", "latency_ms": 100, "pods": PODS}]))
    done = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.cli", "kube", "render", str(good)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [manifest] = list(yaml.safe_load_all(done.stdout))
    assert manifest["metadata"]["name"] == "cwb-preview-0"
    assert problems(manifest) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(_suite([{"type": "toxic", "toxic": "slicer", "pods": PODS}]))
    done = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.cli", "kube", "render", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{bad}:10: experiments[0].fault.toxic: the 'slicer' toxic" in done.stderr
    assert "Traceback" not in done.stderr
    local = tmp_path / "local.yaml"
    local.write_text(
        "service: s\ntraffic: {url: 'http://127.0.0.1:1/', rate_per_s: 1}\n"
        "processes: [{name: p, command: [sleep, '1']}]\n"
        "experiments: [{name: e, fault: {type: process_kill, process: p}}]\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.cli", "kube", "render", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not a Kubernetes suite" in done.stderr


def test_the_example_suite_of_the_docs_loads_and_renders_valid_objects() -> None:
    docs = Path(__file__).parents[2] / "docs" / "kubernetes.md"
    example = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    suite = parse_suite(example, file=str(docs))
    assert suite.kubernetes is not None
    assert suite.kubernetes.context == "kind-cwb"
    for index, experiment in enumerate(suite.experiments):
        manifest = render(
            experiment.fault,  # type: ignore[arg-type]
            kube=suite.kubernetes,
            run_id="doc",
            index=index,
            hold_s=30.0,
        )
        assert problems(manifest) == []


def test_faults_outside_a_kubernetes_suite_are_the_local_ones() -> None:
    """The Kubernetes models apply only under ``kubernetes:``; ``pods`` is unknown elsewhere."""
    text = (
        "service: s\ntraffic: {url: 'http://127.0.0.1:1/', rate_per_s: 1}\n"
        "proxies: [{name: db, listen: '127.0.0.1:2', upstream: '127.0.0.1:3'}]\n"
        "experiments:\n"
        "  - {name: e, fault: {type: latency, proxy: db, latency_ms: 5, pods: {labels: {a: b}}}}\n"
    )
    with pytest.raises(SuiteError) as caught:
        parse_suite(text)
    [problem] = caught.value.problems
    assert problem.path == "experiments[0].fault.pods"
    assert parse_suite(text.replace(", pods: {labels: {a: b}}", "")).kubernetes is None


def test_a_compound_kubernetes_experiment_keeps_each_start() -> None:
    text = HEADER.replace("hosts: [192.0.2.10]", "hosts: [192.0.2.10], max_concurrent_faults: 2")
    text += (
        "experiments:\n  - name: both\n    faults:\n"
        "      - {type: down, pods: {labels: {app: db}}}\n"
        "      - {type: cpu_pressure, at_s: 5, duration_s: 5, pods: {labels: {app: api}}}\n"
    )
    suite = parse_suite(text)
    starts = [(s.at_s, s.fault.type) for s in suite.experiments[0].schedule]
    assert starts == [(0.0, "down"), (5.0, "cpu_pressure")]
