"""Parallel copies against one system: the demo suite with ``--parallel 4`` vs sequential.

Paired runs of the shipped demo (``cwb demo``: PostgreSQL, Valkey, NATS, payments and the
order service, four experiments), each pair one sequential run and one parallel run, their
order alternating from pair to pair so that a machine getting busier does not favour
either. Each run is a subprocess of its own. Printed, as medians over the pairs:

* the wall-time ratio, parallel / sequential (the target is ≤ 0.6 on 2 cores);
* verdict agreement: pairs whose four experiments got the same status both ways (the target
  is 9 of 10), and how many parallel experiments the control flagged for interference —
  on a small machine five copies of the demo compete for the CPU, and the control group
  says so instead of blaming the faults.

    .venv/bin/python bench/parallel_bench.py --pairs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_RUN = """
import json, sys, time
from pathlib import Path
from chaos_workbench.demo import run_demo
parallel = int(sys.argv[2]) or None
start = time.monotonic()
outcome = run_demo("on", run_dir=Path(sys.argv[1]), history=False, parallel=parallel)
wall_s = time.monotonic() - start
print("RESULT " + json.dumps({
    "wall_s": wall_s,
    "grade": outcome.record.grade,
    "verdicts": {r.name: r.status.value for r in outcome.record.results},
    "interference": [r.name for r in outcome.record.results
                     if r.control is not None and r.control.interference],
    "unreliable": [r.name for r in outcome.record.results if not r.measurements_reliable],
}))
"""


@dataclass(frozen=True)
class DemoRun:
    wall_s: float
    grade: str | None
    verdicts: dict[str, str]
    interference: list[str]
    unreliable: list[str]


def run_once(parallel: int, root: Path, label: str) -> DemoRun:
    """One demo run in a subprocess; its summary line parsed."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(root / label), str(parallel)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return DemoRun(**json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"{label} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    ratios: list[float] = []
    same = 0
    flagged = 0
    with tempfile.TemporaryDirectory(prefix="cwb-parallel-bench-") as tmp:
        root = Path(tmp)
        for pair in range(args.pairs):
            first_parallel = pair % 2 == 1  # alternate the order: drift favours neither
            runs: dict[str, DemoRun] = {}
            for parallel in (args.parallel, 0) if first_parallel else (0, args.parallel):
                label = f"pair{pair}-{'parallel' if parallel else 'sequential'}"
                runs["parallel" if parallel else "sequential"] = run_once(parallel, root, label)
                time.sleep(1)  # let the last run's processes leave the CPU
            seq, par = runs["sequential"], runs["parallel"]
            ratios.append(par.wall_s / seq.wall_s)
            agree = seq.verdicts == par.verdicts
            same += agree
            flagged += len(par.interference)
            differing = {
                name: (seq.verdicts.get(name), par.verdicts.get(name))
                for name in sorted(set(seq.verdicts) | set(par.verdicts))
                if seq.verdicts.get(name) != par.verdicts.get(name)
            }
            print(
                f"pair {pair + 1}: sequential {seq.wall_s:.1f} s (grade {seq.grade}), "
                f"parallel {par.wall_s:.1f} s (grade {par.grade}), "
                f"ratio {par.wall_s / seq.wall_s:.2f}, verdicts {'same' if agree else differing}, "
                f"interference {par.interference or 'none'}, "
                f"driver behind: seq {seq.unreliable or 'none'} / par {par.unreliable or 'none'}",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(
        f"wall-time ratio parallel/sequential: median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target <= 0.6)"
    )
    print(f"same verdicts: {same} of {args.pairs} pairs (target: 9 of 10)")
    print(f"experiments flagged for interference by the control: {flagged} of {4 * args.pairs}")


if __name__ == "__main__":
    main()
