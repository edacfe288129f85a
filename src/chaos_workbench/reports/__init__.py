"""Reports from one input, the :class:`~chaos_workbench.model.RunRecord`.

Terminal scorecard (rich), JSON (the full record, and the design sketch's ``report()``
dict), HTML (self-contained, with a timeline chart per experiment), JUnit XML (for CI) and
Markdown (for pull-request comments). :func:`write_report` picks the format from the file
name: ``.json``, ``.html``, ``.xml`` (JUnit) or ``.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path

from chaos_workbench.model import RunRecord
from chaos_workbench.reports.html import to_html
from chaos_workbench.reports.json_report import (
    from_json,
    read_json,
    report_dict,
    to_json,
    write_json,
)
from chaos_workbench.reports.junit import to_junit_xml
from chaos_workbench.reports.markdown import to_markdown
from chaos_workbench.reports.terminal import print_scorecard, scorecard, scorecard_text

__all__ = [
    "ReportFormat",
    "from_json",
    "print_scorecard",
    "read_json",
    "render",
    "report_dict",
    "scorecard",
    "scorecard_text",
    "to_html",
    "to_json",
    "to_junit_xml",
    "to_markdown",
    "write_json",
    "write_report",
]


class ReportFormat(enum.StrEnum):
    """A file format :func:`render` writes."""

    JSON = "json"
    HTML = "html"
    JUNIT = "junit"
    MARKDOWN = "markdown"


_RENDERERS: dict[ReportFormat, Callable[[RunRecord], str]] = {
    ReportFormat.JSON: to_json,
    ReportFormat.HTML: to_html,
    ReportFormat.JUNIT: to_junit_xml,
    ReportFormat.MARKDOWN: to_markdown,
}
_SUFFIXES = {
    ".json": ReportFormat.JSON,
    ".html": ReportFormat.HTML,
    ".htm": ReportFormat.HTML,
    ".xml": ReportFormat.JUNIT,
    ".md": ReportFormat.MARKDOWN,
}


def render(record: RunRecord, fmt: ReportFormat) -> str:
    """The report as text in ``fmt``."""
    return _RENDERERS[fmt](record)


def write_report(record: RunRecord, path: Path, fmt: ReportFormat | None = None) -> Path:
    """Write one report; the format comes from ``fmt`` or else the file's suffix.

    Raises ``ValueError`` for a suffix that names no format. Written through a temporary
    file, so a reader never sees half a report.
    """
    if fmt is None:
        try:
            fmt = _SUFFIXES[path.suffix.lower()]
        except KeyError:
            known = ", ".join(sorted(_SUFFIXES))
            raise ValueError(f"cannot tell the report format of {path} (use {known})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(record, fmt), encoding="utf-8")
    tmp.replace(path)
    return path
