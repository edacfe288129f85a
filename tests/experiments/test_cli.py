"""``validate`` and ``schema``: exit codes, output, and a schema editors can use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from chaos_workbench.experiments.cli import app, suite_json_schema
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.faults import registry

CLI = "from chaos_workbench.experiments.cli import app; app()"
EXAMPLE = Path(__file__).parents[2] / "examples" / "suite.yaml"

GOOD = """\
service: s
traffic: {url: "http://127.0.0.1:1"}
proxies: [{name: db, listen: "127.0.0.1:2", upstream: "127.0.0.1:3"}]
experiments:
  - {name: one, fault: {type: test_slow_link, proxy: db, latency_ms: 5}}
"""


def test_validate_reports_ok_and_problems_with_exit_code(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("proxy: db", "proxy: cache").replace("url:", "uri:"))
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0
    assert ok.stdout == f"{good}: ok: 1 experiment\n"
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.stdout == f"{good}: ok: 1 experiment\n"
    assert result.stderr.splitlines() == [
        f"{bad}:2: traffic.uri: unknown key (did you mean 'url'?)",
        f"{bad}:2: traffic.url: Field required",
        f"{bad}:5: experiments[0].fault.proxy: proxy 'cache' is not defined (defined: db)",
    ]


def test_validate_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"service": "s",\n "traffic": 3}')
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{bad}:2: traffic: Input should be a valid dictionary" in proc.stderr
    assert f"{bad}:1: experiments: Field required" in proc.stderr


def test_example_suite_is_valid() -> None:
    suite = load_suite(EXAMPLE, env={})
    assert suite.traffic.url == "http://127.0.0.1:8080"
    assert [e.fault.type for e in suite.experiments] == ["latency", "down"]


def test_schema_is_valid_json_schema_with_every_registered_fault() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    fault = schema["$defs"]["ExperimentSpec"]["properties"]["fault"]
    kinds = {
        schema["$defs"][v["$ref"].split("/")[-1]]["properties"]["type"]["const"]
        for v in fault["oneOf"]
    }
    assert kinds == set(registry.all_kinds())
    assert {"test_slow_link", "test_stop"} <= kinds


def test_schema_accepts_valid_suites_and_rejects_bad_faults() -> None:
    validator = jsonschema.Draft202012Validator(suite_json_schema())
    example = yaml.safe_load(EXAMPLE.read_text())
    assert list(validator.iter_errors(example)) == []
    good = yaml.safe_load(GOOD)
    assert list(validator.iter_errors(good)) == []
    good["experiments"][0]["fault"]["latency_ms"] = -1
    assert not validator.is_valid(good)
    good["experiments"][0]["fault"] = {"type": "no_such_fault", "proxy": "db"}
    assert not validator.is_valid(good)


@pytest.mark.parametrize("kind", ["test_slow_link", "test_stop"])
def test_schema_variant_requires_its_type(kind: str) -> None:
    defs = suite_json_schema()["$defs"]
    variant = defs[f"Fault_{kind}"]
    assert variant["required"][0] == "type"
    assert variant["properties"]["type"] == {"const": kind, "title": "Type"}
