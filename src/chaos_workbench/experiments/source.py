"""The suite reader's public face, for other formats read the same way (Chaos Toolkit's
experiments, in ``chaos_workbench.chaostoolkit``): YAML and JSON into plain data with the
line of every value, bounded as ``chaos_workbench.limits`` says."""

from __future__ import annotations

from chaos_workbench.experiments._source import (
    Document,
    Loc,
    SourceIssue,
    SyntaxProblem,
    parse_json,
    parse_yaml,
)

__all__ = ["Document", "Loc", "SourceIssue", "SyntaxProblem", "parse_json", "parse_yaml"]
