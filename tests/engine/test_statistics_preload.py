"""scipy.stats (about a second to import) is loaded before the traffic starts, not during
the first verdict on the event loop, where it stalled the load driver and inflated the
first experiment's recovery time. Checked in a fresh interpreter: in the test process
another test has long imported it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = """
import asyncio, json, socket, sys
from pathlib import Path
import chaos_workbench.engine.runner as runner
from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite

seen = []
original = runner.measure

async def spy(*args, **kwargs):
    seen.append("scipy.stats" in sys.modules)
    return await original(*args, **kwargs)

runner.measure = spy
assert "scipy.stats" not in sys.modules
upstream = socket.create_server(("127.0.0.1", 0), backlog=1000)  # the kernel accepts
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    listen = "127.0.0.1:%d" % s.getsockname()[1]
suite = Suite.model_validate({
    "service": "preload",
    "probe": {"kind": "tcp", "address": listen, "rate_per_s": 20},
    "proxies": [{"name": "dep", "listen": listen,
                 "upstream": "127.0.0.1:%d" % upstream.getsockname()[1]}],
    "defaults": {"baseline_s": 0.5, "fault_s": 0.5, "recovery_timeout_s": 5},
    "experiments": [{"name": "down", "fault": {"type": "down", "proxy": "dep"}}],
})
record = asyncio.run(execute_suite(suite, RunOptions(run_dir=Path(sys.argv[1]))))
print(json.dumps({"seen": seen, "status": record.results[0].status.value}))
"""


@pytest.mark.slow
def test_scipy_is_imported_before_the_measurement_starts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["seen"] == [True]
    assert outcome["status"] == "passed"
