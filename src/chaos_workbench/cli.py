"""The ``cwb`` command: thin over the packages. Each package contributes its commands."""

from __future__ import annotations

import typer

from chaos_workbench import __version__

app = typer.Typer(
    name="cwb",
    help="Chaos Workbench: inject real faults, measure the impact, grade the recovery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Chaos Workbench: inject real faults, measure the impact, grade the recovery."""


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
