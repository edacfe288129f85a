"""Validate rendered objects against the vendored Chaos Mesh CRD schemas, as the API
server would: ``x-kubernetes-int-or-string`` accepts either type, and an object schema
with ``properties`` rejects unknown fields (structural schemas prune or, with
``kubectl --validate=strict`` / server-side field validation, refuse them)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).parent / "data" / "chaos-mesh-v2.8.3-crds.yaml"


def _convert(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _convert(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if node.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_convert(v) for v in node]
    return node


@cache
def validators() -> dict[str, jsonschema.Draft7Validator]:
    """One validator per kind (``NetworkChaos``, ...), from the CRD's openAPIV3Schema."""
    out = {}
    for doc in yaml.safe_load_all(CRDS.read_text()):
        version = doc["spec"]["versions"][0]
        schema = _convert(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
        out[doc["spec"]["names"]["kind"]] = jsonschema.Draft7Validator(schema)
    return out


def problems(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation of ``manifest``, as ``path: message``."""
    validator = validators()[manifest["kind"]]
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]
