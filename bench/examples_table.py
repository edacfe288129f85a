"""The figures of docs/examples.md: every example and variant run several times, medians.

    .venv/bin/python bench/examples_table.py                 # 3 runs of everything
    .venv/bin/python bench/examples_table.py --runs 5 nginx-failover etcd-cluster
    .venv/bin/python bench/examples_table.py --fast          # short phases (2 s / 4 s)

Prints one Markdown table: per experiment, the impact and verdict seen most often (with
how often, when the runs disagree), the medians of ``disruption_ms``, ``recovery_time_ms``
and of the failed requests of the fault phase, and each run's grade. Examples whose servers
are missing are listed as skipped, with the package to install. Runs one example at a time:
they must not share the machine's cores with each other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos_workbench.examples.catalog import all_examples
from chaos_workbench.examples.run import missing_binaries, run_example
from chaos_workbench.model import FaultResult


@dataclass(frozen=True)
class Row:
    """One experiment's results over the runs of one example variant."""

    experiment: str
    results: tuple[FaultResult, ...]


def _most_common(values: Sequence[str]) -> str:
    (value, count), *_ = Counter(values).most_common(1)
    return value if count == len(values) else f"{value} ({count} of {len(values)})"


def _median(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "—"
    text = f"{statistics.median(known):.0f}"
    return text if len(known) == len(values) else f"{text} ({len(known)} of {len(values)})"


def _failed(result: FaultResult) -> float:
    return float(sum(w.requests - w.successes for w in result.timeline if w.phase == "fault"))


def _runs(name: str, variant: str, runs: int, fast: bool) -> tuple[list[Row], list[str]]:
    per_experiment: dict[str, list[FaultResult]] = {}
    grades: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cwb-examples-") as tmp:
        for attempt in range(runs):
            outcome = run_example(
                name,
                variant,
                run_dir=Path(tmp) / f"{name}-{variant}-{attempt}",
                fast=fast,
                history=False,
            )
            score = outcome.record.score
            grades.append(score.grade if score is not None else "—")
            for result in outcome.record.results:
                per_experiment.setdefault(result.name, []).append(result)
            print(f"  {name} {variant} run {attempt + 1}/{runs}: {grades[-1]}", file=sys.stderr)
    return [Row(k, tuple(v)) for k, v in per_experiment.items()], grades


def table(names: Sequence[str], runs: int, fast: bool) -> str:
    lines = [
        "| example | variant | experiment | impact | failed requests | disruption_ms "
        "| recovery_time_ms | verdict | grades |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for example in all_examples():
        if names and example.name not in names:
            continue
        missing = missing_binaries(example)
        if missing:
            packages = " ".join(sorted(set(missing.values())))
            lines.append(f"| {example.name} | | skipped: apt-get install {packages} | | | | | | |")
            continue
        for variant in example.variants:
            rows, grades = _runs(example.name, variant, runs, fast)
            for index, row in enumerate(rows):
                first = index == 0
                lines.append(
                    "| "
                    + " | ".join(
                        [
                            example.name if first else "",
                            variant if first else "",
                            row.experiment,
                            _most_common([r.impact.value for r in row.results]),
                            _median([_failed(r) for r in row.results]),
                            _median([r.disruption_ms for r in row.results]),
                            _median([r.recovery_time_ms for r in row.results]),
                            _most_common([r.status.value for r in row.results]),
                            " ".join(grades) if first else "",
                        ]
                    )
                    + " |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="examples to run (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--fast", action="store_true", help="short phases (2 s / 4 s)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be between 1 and 20")
    known = {e.name for e in all_examples()}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"no example named {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    print(table(args.names, args.runs, args.fast))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
