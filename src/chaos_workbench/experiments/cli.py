"""``cwb validate`` and ``cwb schema``: check suite files without running them.

``validate`` prints ``FILE: ok: N experiments`` per good file and every problem of a bad
one as ``file:line: path: message``; it exits 2 when any file has a problem (a user
mistake: no traceback). ``schema`` prints the suite's JSON Schema with the fault union
built from the fault registry at that moment, so editors complete fault parameters.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.experiments.schema import ScheduledFault, Suite
from chaos_workbench.faults import registry as fault_registry

__all__ = ["app", "suite_json_schema", "validate_files"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


def validate_files(
    paths: Sequence[Path], out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Validate each file; print the outcome; return 0 when all are valid, else 2."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    status = 0
    for path in paths:
        try:
            suite = load_suite(path)
        except SuiteError as exc:
            status = 2
            for problem in exc.problems:
                print(problem, file=err)
            continue
        count = len(suite.experiments)
        print(f"{path}: ok: {count} experiment{'s' if count != 1 else ''}", file=out)
    return status


def suite_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a suite file, faults as a ``oneOf`` over registered kinds."""
    schema = Suite.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    variants: list[dict[str, Any]] = []
    scheduled: list[dict[str, Any]] = []
    for kind, fault in fault_registry.all_kinds().items():
        sub = fault.params_model.model_json_schema(
            mode="validation", ref_template="#/$defs/{model}"
        )
        for name, definition in sub.pop("$defs", {}).items():
            defs.setdefault(name, definition)
        sub.setdefault("properties", {})["type"] = {"const": kind, "title": "Type"}
        required = sub.setdefault("required", [])
        if "type" not in required:
            required.insert(0, "type")
        sub["title"] = sub.get("title") or kind
        key = "Fault_" + re.sub(r"[^A-Za-z0-9_]", "_", kind)
        defs[key] = sub
        variants.append({"$ref": f"#/$defs/{key}"})
        # A `faults:` item is the same mapping with `at_s` beside the fault's own keys.
        at_s = ScheduledFault.model_json_schema()["properties"]["at_s"]
        timed = {**sub, "properties": {**sub["properties"], "at_s": at_s}}
        defs[key + "_scheduled"] = timed
        scheduled.append({"$ref": f"#/$defs/{key}_scheduled"})
    experiment = defs["ExperimentSpec"]["properties"]
    if variants:
        experiment["fault"] = {
            "oneOf": variants,
            "description": "The fault to inject; 'type' names its kind.",
        }
        experiment["faults"] = {
            **experiment["faults"],
            "items": {"oneOf": scheduled},
            "description": "Several faults held together, each with an optional at_s.",
        }
        if not _referenced(schema, "#/$defs/ScheduledFault"):
            defs.pop("ScheduledFault", None)
        if not _referenced(schema, "#/$defs/FaultParams"):
            defs.pop("FaultParams", None)
    return {"$schema": SCHEMA_DIALECT, "title": "Chaos Workbench suite", **schema}


def _referenced(node: object, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(v, ref) for v in node)
    return False


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Suite files (YAML or JSON).")],
) -> None:
    """Check suite files without running them; exit 2 when any has a problem."""
    raise typer.Exit(validate_files(files))


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of a suite file (for editor completion)."""
    typer.echo(json.dumps(suite_json_schema(), indent=2))
