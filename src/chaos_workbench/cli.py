"""The ``cwb`` command: thin over the packages. Each package contributes its commands.

Exit codes: 0 the run completed (whatever the grade, unless ``--fail-under``), 1 the run
itself broke, 2 bad input (a suite file, an option, a refused target), 130/143 stopped by
SIGINT/SIGTERM after reverting every applied fault.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos_workbench._version import __version__
from chaos_workbench.demo.run import demo_command
from chaos_workbench.engine.errors import RunAborted, RunInterrupted
from chaos_workbench.examples.run import example_command
from chaos_workbench.experiments import cli as experiments_cli
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.proxy.cli import proxy_app, toxic_app
from chaos_workbench.safety import cli as safety_cli
from chaos_workbench.store import cli as store_cli
from chaos_workbench.store.history import DEFAULT_DB_PATH
from chaos_workbench.traffic.cli import load_command

app = typer.Typer(
    name="cwb",
    help="Chaos Workbench: inject real faults, measure the impact, grade the recovery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_GRADES = ("A", "B", "C", "D", "F")


@app.callback()
def _root() -> None:
    """Chaos Workbench: inject real faults, measure the impact, grade the recovery."""


app.command("example")(example_command)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _env_pairs(pairs: list[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="The suite file (YAML or JSON).")],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Where to write the JSON report.")
    ] = None,
    report: Annotated[
        list[Path] | None,
        typer.Option(help="More reports, format by suffix: .html, .xml (JUnit), .md, .json."),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="The run directory (journal, logs, leases, reports).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for every random choice.")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only these experiments.")] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE for ${KEY} in the suite file.")
    ] = None,
    history: Annotated[Path | None, typer.Option(help="The run history database.")] = (
        DEFAULT_DB_PATH
    ),
    no_history: Annotated[bool, typer.Option(help="Do not record this run.")] = False,
    fail_under: Annotated[
        str | None, typer.Option(help="Exit 1 when the grade is worse than this (A–F).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve the run's /metrics on 127.0.0.1:PORT while it runs (0: a free port).",
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=16,
            help="Run experiments on N isolated copies of the system at once, beside a "
            "control copy (0: one after another; default: the suite's 'parallel').",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Drive the suite's traffic from the workers of this running Dask scheduler "
            "(tcp://host:port; overrides traffic.scheduler; docs/traffic.md).",
        ),
    ] = None,
    journal_path: Annotated[
        Path,
        typer.Option(help="Chaos Toolkit experiments: where to write its journal."),
    ] = Path("journal.json"),
    rollback_strategy: Annotated[
        str | None,
        typer.Option(
            help="Chaos Toolkit experiments: default, always, never or deviated "
            "(ours when unset: rollbacks run on every ending)."
        ),
    ] = None,
    hypothesis_strategy: Annotated[
        str | None,
        typer.Option(
            help="Chaos Toolkit experiments: default, before-method-only, after-method-only, "
            "during-method-only, continuously or skip."
        ),
    ] = None,
    hypothesis_frequency: Annotated[
        float,
        typer.Option(help="Chaos Toolkit experiments: seconds between hypothesis checks."),
    ] = 1.0,
    fail_fast: Annotated[
        bool, typer.Option(help="Chaos Toolkit experiments: stop at the first deviation.")
    ] = False,
    fail_on_method_tolerance: Annotated[
        bool,
        typer.Option(help="Chaos Toolkit experiments: a method probe off its tolerance fails."),
    ] = False,
) -> None:
    """Run a suite (or a Chaos Toolkit experiment, as is) against the real system: inject
    each fault, measure, grade."""
    if fail_under is not None and fail_under.upper() not in _GRADES:
        raise typer.BadParameter("expected one of A, B, C, D, F", param_hint="--fail-under")
    import os

    from chaos_workbench.chaostoolkit import is_chaostoolkit_experiment, run_chaostoolkit

    if is_chaostoolkit_experiment(suite):  # docs/chaos-toolkit.md
        raise typer.Exit(
            run_chaostoolkit(
                suite,
                journal_path=journal_path,
                rollback_strategy=rollback_strategy,
                hypothesis_strategy=hypothesis_strategy,
                hypothesis_frequency_s=hypothesis_frequency,
                fail_fast=fail_fast,
                fail_on_method_tolerance=fail_on_method_tolerance,
                report_path=json_path,  # the cwb extension's report (default: by the journal)
            )
        )

    # Here, not at the top: the engine (and scipy with it) would make every cwb command,
    # `cwb validate` included, start a second slower.
    from chaos_workbench.engine import run_suite

    record = run_suite(
        suite,
        env={**os.environ, **_env_pairs(env)},
        run_dir=run_dir,
        json_path=json_path,
        report_paths=report or [],
        seed=seed,
        only=only or [],
        history_db=None if no_history else history,
        metrics_port=metrics_port,
        parallel=parallel,
        scheduler=scheduler,
    )
    if fail_under is not None:
        worst = _GRADES.index(fail_under.upper())
        grade = record.score.grade if record.score else "F"
        if _GRADES.index(grade) > worst:
            Console(stderr=True).print(f"grade {grade} is worse than --fail-under {fail_under}")
            raise typer.Exit(1)


app.command("demo")(demo_command)
app.command("load")(load_command)
app.command("validate")(experiments_cli.validate_command)
app.command("schema")(experiments_cli.schema_command)
app.command("watchdog", hidden=True)(safety_cli.watchdog)
app.command("cleanup")(safety_cli.cleanup)
app.command("history")(store_cli.history_command)
app.command("compare")(store_cli.compare_command)
app.add_typer(proxy_app, name="proxy")
app.add_typer(toxic_app, name="toxic")

kube_app = typer.Typer(
    help="Kubernetes through Chaos Mesh (docs/kubernetes.md).", no_args_is_help=True
)
app.add_typer(kube_app, name="kube")


@kube_app.command("render")
def kube_render(
    suite: Annotated[Path, typer.Argument(help="A suite file with a kubernetes: section.")],
    run_id: Annotated[str, typer.Option(help="The run id in names and labels.")] = "preview",
) -> None:
    """Print the Chaos Mesh objects a Kubernetes suite would create (YAML; no cluster needed)."""
    from chaos_workbench.chaosmesh import KubeFaultParams, PlannedFault, render_yaml
    from chaos_workbench.chaosmesh.render import MAX_RUN_ID
    from chaos_workbench.experiments.loader import load_suite
    from chaos_workbench.kube.spec import DNS_LABEL

    if len(run_id) > MAX_RUN_ID or not DNS_LABEL.fullmatch(run_id):
        message = f"lower-case letters, digits and '-', at most {MAX_RUN_ID} characters"
        raise typer.BadParameter(message, param_hint="--run-id")
    loaded = load_suite(suite)
    if loaded.kubernetes is None:
        raise RunAborted(f"{suite}: not a Kubernetes suite (no kubernetes: section)", exit_code=2)
    planned = [
        PlannedFault(e.name, s.fault, s.fault.duration_s or e.fault_s or loaded.defaults.fault_s)
        for e in loaded.experiments
        for s in e.schedule
        if isinstance(s.fault, KubeFaultParams)
    ]
    typer.echo(render_yaml(loaded.kubernetes, planned, run_id), nl=False)


def main() -> None:
    """Console-script entry point: user mistakes are a message and exit 2, never a traceback."""
    # Plain writes, not rich: a problem line must stay one line (editors and CI parse it).
    try:
        app()
    except SuiteError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(2) from None
    except RunAborted as exc:
        print(f"cwb: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except RunInterrupted as exc:
        raise SystemExit(exc.outcome.exit_code) from None


if __name__ == "__main__":
    main()
