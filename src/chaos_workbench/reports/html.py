"""The HTML report: one self-contained file (inline CSS and SVG, no script, no fetches).

The scorecard first, then one section per experiment with its timeline chart (see
``svg``), its per-phase measurements and its findings. Rendered with jinja2, autoescaped:
names and reasons come from suite files and error messages, never trusted as markup.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from chaos_workbench._version import __version__
from chaos_workbench.model import BreakingPoint, FaultResult, RunRecord
from chaos_workbench.reports._compound import interval_text, outcome_text, pair_text
from chaos_workbench.reports._control import control_lines, parallel_text
from chaos_workbench.reports._format import (
    disruption_text,
    fault_label,
    impact_text,
    recovered_text,
    recovery_time_text,
    revert_text,
    score_line,
    verdict_text,
    warmup_text,
)
from chaos_workbench.reports.svg import timeline_svg
from chaos_workbench.reports.sweep_svg import breaking_point_svg

__all__ = ["to_html"]


@cache
def _template() -> jinja2.Template:
    source = resources.files(__package__).joinpath("templates/report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals.update(
        fault_label=fault_label,
        impact_text=impact_text,
        recovered_text=recovered_text,
        recovery_time_text=recovery_time_text,
        revert_text=revert_text,
        disruption_text=disruption_text,
        warmup_text=warmup_text,
        score_line=score_line,
        verdict_text=verdict_text,
        svg=_svg,
        control_lines=control_lines,
        parallel_text=parallel_text,
        sweep_svg=_sweep_svg,
        interval_text=interval_text,
        outcome_text=outcome_text,
        pair_text=pair_text,
        ms=_ms,
    )
    return env.from_string(source)


def _svg(result: FaultResult) -> Markup:
    return Markup(timeline_svg(result))  # built with every text escaped (see svg.py)


def _sweep_svg(point: BreakingPoint) -> Markup:
    return Markup(breaking_point_svg(point))  # built with every text escaped (sweep_svg.py)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def to_html(record: RunRecord) -> str:
    """The whole report as one HTML document."""
    return _template().render(record=record, version=__version__)
