"""One experiment's timeline as an inline SVG chart: no script, no external assets.

Two panels share the time axis: success ratio per window (dots red where the window broke
the SLO) and p99 latency per window. Phases are shaded bands (baseline, fault, recovery);
events (inject, revert, recovered, ...) are labelled vertical lines. Empty windows leave a
gap in the lines rather than a fake zero. Each fault of a compound experiment is a bar
between the panels over the interval it was held.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from html import escape

from chaos_workbench.model import FaultResult, WindowSummary

__all__ = ["timeline_svg"]

WIDTH = 760
LEFT, RIGHT, TOP = 64, 16, 45  # room for the y labels and three rows of event labels
PANEL_H, GAP, BOTTOM = 100, 34, 30
HEIGHT = TOP + 2 * PANEL_H + GAP + BOTTOM

_PHASE_FILL = {"baseline": "#eef2f6", "fault": "#fde8e8", "recovery": "#e8f1fd"}
_EVENT_COLOUR = {
    "inject": "#c0392b",
    "injected": "#c0392b",
    "revert": "#2471a3",
    "reverted": "#2471a3",
    "recovered": "#1e8449",
    "aborted": "#8e44ad",
}


def _nice_step(span: float, target_ticks: int) -> float:
    """A 1/2/5 × 10^k step giving about ``target_ticks`` ticks over ``span``."""
    raw = max(span, 1e-9) / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:.1f}"


class _Chart:
    def __init__(self, t_max_s: float) -> None:
        self.t_max_s = t_max_s
        self.parts: list[str] = []

    def x(self, t_s: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(t_s, 0.0), self.t_max_s) / self.t_max_s

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, text: str, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
        self.add(f'<text x="{_fmt(x)}" y="{_fmt(y)}"{extra}>{escape(text)}</text>')


def timeline_svg(result: FaultResult) -> str:
    """The chart for one experiment, as an ``<svg>`` element (a string, escaped)."""
    windows = result.timeline
    label = f"Timeline of {result.name}: success ratio and p99 latency per window"
    if not windows:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" '
            f'height="40" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
            '<text x="8" y="24">no measurements for this experiment</text></svg>'
        )
    step_s = _window_step(windows)
    t_max_s = max([w.t_s + step_s for w in windows] + [e.t_s for e in result.events])
    chart = _Chart(max(t_max_s, 1e-3))
    ratio_top, p99_top = TOP, TOP + PANEL_H + GAP
    _phase_bands(chart, windows, step_s)
    _panel(chart, ratio_top, "success ratio", 1.0, "{:.0%}".format)
    p99_values = [w.p99_ms for w in windows if w.p99_ms is not None]
    p99_max = _nice_ceiling(max(p99_values, default=1.0) * 1.1)
    _panel(chart, p99_top, "p99 latency", p99_max, lambda v: f"{v:g} ms")
    _series(chart, windows, step_s, ratio_top, 1.0, _ratio, "#1e8449", dots=True)
    _series(chart, windows, step_s, p99_top, p99_max, lambda w: w.p99_ms, "#6c3483")
    _time_axis(chart, p99_top + PANEL_H)
    _events(chart, result)
    _fault_intervals(chart, result)
    body = "".join(chart.parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _ratio(window: WindowSummary) -> float | None:
    return window.successes / window.requests if window.requests else None


def _window_step(windows: Sequence[WindowSummary]) -> float:
    """The window length: the smallest gap between window starts (0.25 s if only one)."""
    gaps = [b.t_s - a.t_s for a, b in itertools.pairwise(windows) if b.t_s > a.t_s]
    return min(gaps, default=0.25)


def _nice_ceiling(value: float) -> float:
    step = _nice_step(value, 4)
    return max(step, math.ceil(value / step) * step)


def _phase_bands(chart: _Chart, windows: Sequence[WindowSummary], step_s: float) -> None:
    runs: list[tuple[str, float, float]] = []
    for w in windows:
        if runs and runs[-1][0] == w.phase:
            runs[-1] = (w.phase, runs[-1][1], w.t_s + step_s)
        else:
            runs.append((w.phase, w.t_s, w.t_s + step_s))
    for phase, start, end in runs:
        x0, x1 = chart.x(start), chart.x(end)
        fill = _PHASE_FILL.get(phase, "#f4f4f4")
        height = 2 * PANEL_H + GAP
        chart.add(
            f'<rect class="phase phase-{escape(phase)}" x="{_fmt(x0)}" y="{TOP}" '
            f'width="{_fmt(max(x1 - x0, 0.5))}" height="{height}" fill="{fill}"/>'
        )
        chart.text((x0 + x1) / 2, TOP + PANEL_H + GAP - 6, phase, text_anchor="middle", fill="#555")


def _panel(
    chart: _Chart, top: float, title: str, y_max: float, fmt: Callable[[float], str]
) -> None:
    right = WIDTH - RIGHT
    chart.add(
        f'<rect x="{LEFT}" y="{top}" width="{right - LEFT}" height="{PANEL_H}" '
        'fill="none" stroke="#999"/>'
    )
    for fraction in (0.0, 0.5, 1.0):
        y = top + PANEL_H * (1 - fraction)
        chart.add(f'<line x1="{LEFT}" y1="{_fmt(y)}" x2="{right}" y2="{_fmt(y)}" stroke="#ddd"/>')
        chart.text(LEFT - 4, y + 4, fmt(y_max * fraction), text_anchor="end", fill="#333")
    chart.text(LEFT + 4, top + 12, title, fill="#333", font_weight="bold")


def _series(
    chart: _Chart,
    windows: Sequence[WindowSummary],
    step_s: float,
    top: float,
    y_max: float,
    value: Callable[[WindowSummary], float | None],
    colour: str,
    dots: bool = False,
) -> None:
    segments: list[list[str]] = [[]]
    for w in windows:
        v = value(w)
        if v is None:
            if segments[-1]:
                segments.append([])  # an empty window: a gap, not a zero
            continue
        x = chart.x(w.t_s + step_s / 2)
        y = top + PANEL_H * (1 - min(float(v), y_max) / y_max)
        segments[-1].append(f"{_fmt(x)},{_fmt(y)}")
        if dots:
            fill = {True: colour, False: "#c0392b", None: "#999"}[w.slo_ok]
            chart.add(f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="2.2" fill="{fill}"/>')
    for points in segments:
        if len(points) > 1:
            chart.add(
                f'<polyline points="{" ".join(points)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )


def _time_axis(chart: _Chart, y: float) -> None:
    step = _nice_step(chart.t_max_s, 8)
    for i in range(int(chart.t_max_s / step) + 1):
        t = i * step
        x = chart.x(t)
        chart.add(f'<line x1="{_fmt(x)}" y1="{y}" x2="{_fmt(x)}" y2="{y + 4}" stroke="#999"/>')
        chart.text(x, y + 16, f"{t:g} s", text_anchor="middle", fill="#333")


def _fault_intervals(chart: _Chart, result: FaultResult) -> None:
    """A bar per fault of a compound experiment, in the gap between the two panels (three
    rows, cycled: the gap holds no more)."""
    if len(result.faults) < 2:
        return
    for index, interval in enumerate(result.faults):
        end_s = chart.t_max_s if interval.end_ms is None else interval.end_ms / 1e3
        x0, x1 = chart.x(interval.start_ms / 1e3), chart.x(end_s)
        y = TOP + PANEL_H + 3 + 6 * (index % 3)
        title = f"fault {index + 1}: {interval.description or interval.fault}"
        title += f", {interval.start_ms / 1e3:.2f}–{end_s:.2f} s"
        chart.add(
            f'<rect class="fault-interval" x="{_fmt(x0)}" y="{_fmt(y)}" '
            f'width="{_fmt(max(x1 - x0, 1.0))}" height="4" fill="#c0392b" opacity="0.7">'
            f"<title>{escape(title)}</title></rect>"
        )


def _events(chart: _Chart, result: FaultResult) -> None:
    bottom = TOP + 2 * PANEL_H + GAP
    for index, event in enumerate(result.events):
        x = chart.x(event.t_s)
        colour = _EVENT_COLOUR.get(event.kind, "#7f8c8d")
        chart.add(
            f'<line class="event event-{escape(event.kind)}" x1="{_fmt(x)}" y1="{TOP - 4}" '
            f'x2="{_fmt(x)}" y2="{bottom}" stroke="{colour}" stroke-dasharray="4 3">'
            f"<title>{escape(f'{event.t_s:.2f} s {event.kind}: {event.message}')}</title></line>"
        )
        # Cycle three label rows so that close events (revert, reverted, recovered) stay
        # readable: they often fall within a few pixels of each other.
        y = TOP - 8 - 11 * (index % 3)
        if x > WIDTH - RIGHT - 60:  # near the right edge: label to the left of the line
            chart.text(x - 2, y, event.kind, fill=colour, text_anchor="end")
        else:
            chart.text(x + 2, y, event.kind, fill=colour)
