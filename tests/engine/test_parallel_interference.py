"""The control group flags interference: a host-wide CPU load hits every copy at once.

One experiment copy beside the control, both running a real service that spends 8 ms of
CPU on every request (at 50 requests/s, 40 % of a core: a service that mostly sleeps is
favoured by the scheduler and barely notices a busy machine). The experiment's own fault
is harmless (300 ms of latency on a proxy its traffic does not cross); while it is held,
this test starts twelve busy-looping processes that compete with every copy for the
machine's two cores. The before-baseline alone would blame the fault for the slowdown;
the control, slowed down over the same interval, shows that it was not the fault.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for parallel_helpers (importlib mode)
from parallel_helpers import run_copies, write_suite

from chaos_workbench.model import ExperimentStatus

BURNERS = 12  # 6× the cores: every copy's service gets a fraction of the CPU it needs
EXPERIMENTS = """
experiments:
  - name: harmless
    fault: {type: latency, proxy: side, latency_ms: 300}
    fault_s: 3
"""


@pytest.mark.slow
def test_a_load_on_every_copy_is_interference_not_the_fault(tmp_path: Path) -> None:
    burners: list[subprocess.Popen[bytes]] = []

    def on_phase(experiment: str, phase: str) -> None:
        if phase == "fault" and not burners:
            burners.extend(
                subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)
            )
        elif phase == "revert":
            stop(burners)

    suite = write_suite(tmp_path / "suite.yaml", EXPERIMENTS)
    try:
        outcome = run_copies(
            suite, tmp_path / "run", parallel=1, env={"BURN_MS": "8"}, on_phase=on_phase
        )
    finally:
        stop(burners)
    assert burners, "the load was never started"
    (result,) = outcome.record.results
    control = result.control
    assert control is not None, result.reason
    assert control.control_degraded is True, control.findings
    assert control.interference is True
    assert control.trusted == "control"
    assert control.explanation.startswith("interference:")
    # Never blamed on the fault: it passed (the fault added nothing) or, had the slowdown
    # broken its expectations, it is inconclusive with the interference as the reason.
    assert result.status in (ExperimentStatus.PASSED, ExperimentStatus.INCONCLUSIVE)
    if result.status is ExperimentStatus.INCONCLUSIVE:
        assert result.reason.startswith("interference:")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait(timeout=10)
