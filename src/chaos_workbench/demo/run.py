"""``cwb demo``: start the demo system on free ports and run the shipped demo suite on it.

The suite (``demo/suite.yaml``) is an ordinary suite file; this module only prepares what
it leaves to the environment — free loopback ports for every server and proxy, a temporary
directory for PostgreSQL's data, the Python that runs the services, and the resilience
mode — and hands it to the engine. The temporary directory is removed at the end, also
after Ctrl-C; the engine stops the processes and proxies it started.
"""

from __future__ import annotations

import enum
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.host.spawn import free_ports

if TYPE_CHECKING:
    from chaos_workbench.model import RunRecord

__all__ = [
    "DemoPorts",
    "DemoRun",
    "Resilience",
    "demo_command",
    "demo_env",
    "free_ports",
    "run_demo",
    "suite_path",
]


class Resilience(enum.StrEnum):
    """The order-service's request policy (see ``order_service``)."""

    OFF = "off"
    ON = "on"


@dataclass(frozen=True)
class DemoPorts:
    """Every port the demo listens on: each dependency and its workbench proxy."""

    service: int
    db: int
    db_proxy: int
    cache: int
    cache_proxy: int
    queue: int
    queue_proxy: int
    payments: int
    payments_proxy: int

    @classmethod
    def pick(cls) -> DemoPorts:
        return cls(*free_ports(len(fields(cls))))

    def places(self, copy_dir: Path) -> CopyPlaces:
        """These ports as the suite's ``${port:NAME}`` placeholders (NAME: the field's)."""
        ports = {field.name: getattr(self, field.name) for field in fields(self)}
        return CopyPlaces(copy_dir, ports=ports)


def demo_env(resilience: Resilience, ports: DemoPorts, data_dir: Path) -> dict[str, str]:
    """The ``${CWB_DEMO_*}`` variables ``suite.yaml`` refers to (the ports' are for scripts
    written before the suite's ``${port:NAME}`` placeholders: ``DemoPorts.places``)."""
    env = {
        "CWB_DEMO_PYTHON": sys.executable,
        "CWB_DEMO_RESILIENCE": resilience.value,
        "CWB_DEMO_DIR": str(data_dir),
    }
    for field in fields(ports):
        env[f"CWB_DEMO_{field.name.upper()}_PORT"] = str(getattr(ports, field.name))
    return env


def suite_path() -> Path:
    """Where the shipped demo suite is (inside the installed package)."""
    return Path(str(resources.files("chaos_workbench.demo") / "suite.yaml"))


@dataclass(frozen=True)
class DemoRun:
    """What a demo run produced, and where its files are."""

    record: RunRecord
    run_dir: Path
    json_path: Path
    data_dir: Path  # the system's temporary data (PostgreSQL's cluster); removed at the end
    ports: DemoPorts  # of the system a sequential run starts (copies choose their own)


def run_demo(
    resilience: Resilience | str = Resilience.ON,
    *,
    json_path: Path | None = None,
    run_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
    history: bool = True,
    keep_data: bool = False,
    parallel: int | None = None,
) -> DemoRun:
    """Run the demo suite against a freshly started demo system.

    ``only`` names the experiments to run (all when empty); ``history=False`` keeps the
    run out of the history database (tests); ``keep_data`` keeps PostgreSQL's data
    directory after the run (and after a crash) instead of removing it; ``parallel``
    runs the experiments on that many copies of the system at once, beside a control.
    """
    from chaos_workbench.engine import run_suite
    from chaos_workbench.engine.runner import default_run_dir

    mode = Resilience(resilience)
    run_dir = run_dir or default_run_dir(f"demo-{mode.value}")
    json_path = json_path or run_dir / "report.json"
    from chaos_workbench.demo.postgres_server import shared_temp_dir
    from chaos_workbench.host import started

    data_dir = shared_temp_dir("cwb-demo-")  # PostgreSQL's user can enter it, as root too
    # Recorded with the run: if this process is killed, whoever ends the run removes it.
    if not keep_data:
        started.record(run_dir, started.StartedDir(name="demo data", path=str(data_dir)))
    try:
        ports = DemoPorts.pick()
        full_env = {**os.environ, **(env or {}), **demo_env(mode, ports, data_dir)}
        places = ports.places(run_dir.absolute())
        if history:
            record = run_suite(
                suite_path(),
                env=full_env,
                run_dir=run_dir,
                json_path=json_path,
                only=only,
                parallel=parallel,
                copy=places,
            )
        else:
            record = run_suite(
                suite_path(),
                env=full_env,
                run_dir=run_dir,
                json_path=json_path,
                only=only,
                history_db=None,
                parallel=parallel,
                copy=places,
            )
        return DemoRun(record, run_dir, json_path, data_dir, ports)
    finally:
        if not keep_data:
            # PostgreSQL's files belong to its unprivileged user; root removes them all the same.
            shutil.rmtree(data_dir, ignore_errors=True)
            started.forget(run_dir, "demo data")


def demo_command(
    resilience: Resilience = typer.Option(
        Resilience.ON,
        "--resilience",
        help="The order-service's policy: 'off' = naive calls, 'on' = timeouts, retries, "
        "breakers and fallbacks.",
        case_sensitive=False,
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Where to write the JSON report (default: in the run directory)."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Where to keep the run's journal, logs and reports."
    ),
    keep_data: bool = typer.Option(
        False, "--keep-data", help="Keep PostgreSQL's data directory after the run."
    ),
    parallel: int | None = typer.Option(
        None,
        "--parallel",
        min=0,
        max=16,
        help="Run the experiments on N copies of the demo system at once, beside a control.",
    ),
) -> None:
    """Start the demo system (PostgreSQL, Valkey, NATS, payments, order-service) and run
    the demo suite against it: four real faults, a graded scorecard."""
    typer.echo(f"demo: order-service with --resilience {resilience.value}; suite {suite_path()}")
    outcome = run_demo(
        resilience, json_path=json_path, run_dir=run_dir, keep_data=keep_data, parallel=parallel
    )
    typer.echo(f"demo: run directory {outcome.run_dir}")
    typer.echo(f"demo: JSON report {outcome.json_path}")
    if keep_data:
        typer.echo(f"demo: PostgreSQL's data kept in {outcome.data_dir}")
