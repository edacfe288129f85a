"""Every tolerance kind: the tutorial-style file holds, and each kind refuses a value outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ctk_support import EXPERIMENTS, Service, run, write


def test_every_tolerance_kind_holds(service: Service, tmp_path: Path) -> None:
    result = run(
        EXPERIMENTS / "tolerances.yaml",
        tmp_path,
        {"SERVICE_URL": service.url, "PATH": "/usr/bin:/bin"},
    )
    before = result.journal["steady_states"]["before"]
    assert before is not None, result.out
    assert [(p["activity"]["name"], p["tolerance_met"]) for p in before["probes"]][-1] == (
        "range-on-stdout",
        True,
    )
    assert len(before["probes"]) == 13, result.out
    assert before["steady_state_met"], result.out
    assert result.code == 0


_CONST = "ctk_helpers"


def _const(value: Any) -> dict[str, Any]:
    return {"type": "python", "module": _CONST, "func": "constant", "arguments": {"value": value}}


# (tolerance, provider): each must NOT hold, though a sloppy check would let it pass.
_OUTSIDE = {
    "bool-is-not-truthy": (True, _const(1.5)),
    "string-exact": ("ready", _const("ready!")),
    "int-against-http-status": (200, {"type": "http", "url": "${service_url}/missing"}),
    "int-against-process-status": (0, {"type": "process", "path": "false"}),
    "list-membership-status": ([200, 201, 204], {"type": "http", "url": "${service_url}/missing"}),
    "two-item-range-above": ([1, 10], _const(11)),
    "three-item-membership": ([1, 2, 3], _const(4)),
    "probe-falsy": (
        {
            "type": "probe",
            "name": "pos",
            "provider": {"type": "python", "module": _CONST, "func": "is_positive"},
        },
        _const(-1),
    ),
    "probe-that-fails": (
        {
            "type": "probe",
            "name": "boom",
            "provider": {"type": "python", "module": _CONST, "func": "boom"},
        },
        _const(1),
    ),
    "regex-no-match": (
        {"type": "regex", "pattern": "^goodbye", "target": "body"},
        {"type": "http", "url": "${service_url}/text"},
    ),
    "jsonpath-expect-differs": (
        {"type": "jsonpath", "path": "$.items[*].name", "expect": ["a"], "target": "body"},
        {"type": "http", "url": "${service_url}/health"},
    ),
    "jsonpath-finds-nothing": (
        {"type": "jsonpath", "path": "$.nothing", "target": "body"},
        {"type": "http", "url": "${service_url}/health"},
    ),
    "jsonpath-count-differs": (
        {"type": "jsonpath", "path": "$.items[*]", "count": 3, "target": "body"},
        {"type": "http", "url": "${service_url}/health"},
    ),
    "range-below": ({"type": "range", "range": [5, 10]}, _const(4.99)),
    "range-not-a-number": ({"type": "range", "range": [0, 10]}, _const("many")),
}


@pytest.mark.parametrize("case", sorted(_OUTSIDE))
def test_each_tolerance_kind_refuses_a_value_outside(
    case: str, service: Service, tmp_path: Path
) -> None:
    tolerance, provider = _OUTSIDE[case]
    experiment = {
        "title": case,
        "description": "outside",
        "configuration": {"service_url": service.url},
        "steady-state-hypothesis": {
            "title": "holds",
            "probes": [
                {"type": "probe", "name": case, "provider": provider, "tolerance": tolerance}
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "never",
                "provider": {"type": "http", "method": "POST", "url": "${service_url}/break"},
            }
        ],
    }
    result = run(write(tmp_path, f"{case}.json", experiment), tmp_path, {"PATH": "/usr/bin:/bin"})
    before = result.journal["steady_states"]["before"]
    assert before["steady_state_met"] is False, result.out
    assert before["probes"][0]["tolerance_met"] is False
    assert result.journal["run"] == []
    assert not service.state.broken
