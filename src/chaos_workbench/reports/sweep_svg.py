"""Charts for sweeps and compound faults, as inline SVG (no script, no external assets).

``breaking_point_svg``: impact against the swept value, one dot per value (green where the
experiment met its expectations, red where it did not, grey without a verdict), with the
breaking point marked between the value tolerated and the value that broke. Values are
spaced evenly in their order rather than to scale: a sweep is usually geometric (50, 100,
200, …, 1600) and a linear axis would crowd its small values into one corner.
"""

from __future__ import annotations

from html import escape

from chaos_workbench.model import BreakingPoint, ImpactLevel, SweepOutcome

__all__ = ["breaking_point_svg"]

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 110, 20, 28, 40
_LEVELS = (
    ImpactLevel.NONE,
    ImpactLevel.DEGRADED,
    ImpactLevel.PARTIAL_OUTAGE,
    ImpactLevel.FULL_OUTAGE,
)
_FILL = {True: "#1e8449", False: "#c0392b", None: "#999"}


def _f(value: float) -> str:
    return f"{value:.1f}"


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{_f(x)}" y="{_f(y)}"{extra}>{escape(text)}</text>'


def breaking_point_svg(point: BreakingPoint) -> str:
    """The impact-against-value chart of one sweep, as an ``<svg>`` element (escaped)."""
    label = f"Impact against {point.parameter} for {point.sweep}: {point.summary}"
    values = point.points
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step_x = plot_w / max(len(values), 1)

    def x(index: int) -> float:
        return LEFT + step_x * (index + 0.5)

    def y(level: ImpactLevel) -> float:
        return TOP + plot_h * (1 - _LEVELS.index(level) / (len(_LEVELS) - 1))

    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
        _text(LEFT, TOP - 10, f"impact against {point.parameter}", font_weight="bold"),
    ]
    for level in _LEVELS:
        parts.append(
            f'<line x1="{LEFT}" y1="{_f(y(level))}" x2="{WIDTH - RIGHT}" y2="{_f(y(level))}" '
            'stroke="#eee"/>'
        )
        parts.append(_text(LEFT - 6, y(level) + 4, level.value, text_anchor="end", fill="#333"))
    marker = _breaking_index(values, point)
    if marker is not None:
        bx = LEFT + step_x * marker
        parts.append(
            f'<line class="breaking-point-marker" x1="{_f(bx)}" y1="{TOP}" x2="{_f(bx)}" '
            f'y2="{TOP + plot_h}" stroke="#c0392b" stroke-dasharray="5 3"/>'
        )
        parts.append(_text(bx + 3, TOP + 12, "breaking point", fill="#c0392b"))
    line = " ".join(f"{_f(x(i))},{_f(y(p.impact))}" for i, p in enumerate(values))
    if len(values) > 1:
        parts.append(f'<polyline points="{line}" fill="none" stroke="#aaa"/>')
    for index, outcome in enumerate(values):
        parts.append(_dot(x(index), y(outcome.impact), outcome))
        parts.append(
            _text(x(index), HEIGHT - BOTTOM + 16, str(outcome.value), text_anchor="middle")
        )
    parts.append(
        _text(LEFT + plot_w / 2, HEIGHT - 6, point.parameter, text_anchor="middle", fill="#555")
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="breaking-point-chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(label)}</title>{''.join(parts)}</svg>"
    )


def _dot(cx: float, cy: float, outcome: SweepOutcome) -> str:
    verdict = {True: "met expectations", False: "did not", None: "no verdict"}[outcome.passed]
    title = f"{outcome.value}: {outcome.impact.value}, {outcome.status.value} ({verdict})"
    return (
        f'<circle class="sweep-value" cx="{_f(cx)}" cy="{_f(cy)}" r="5" '
        f'fill="{_FILL[outcome.passed]}"><title>{escape(title)}</title></circle>'
    )


def _breaking_index(values: tuple[SweepOutcome, ...], point: BreakingPoint) -> int | None:
    """The boundary between the value tolerated and the value that broke (its left edge)."""
    if point.breaks_at is None:
        return None
    for index, outcome in enumerate(values):
        if outcome.value == point.breaks_at:
            return index
    return None
