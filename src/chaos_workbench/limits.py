"""Bounds on structured input that may come from anyone: a suite file from a pull request,
a body sent to the fault proxy's API.

Every bound is far above what a real suite or API call needs (the demo suite is 6 KB, 5
levels deep, 171 values; a Toxiproxy client sends bodies under 1 KB, 3 levels deep)
and low enough that refusing an input costs milliseconds, not the minutes and gigabytes a
"billion laughs" file or 100,000 nested brackets would. Each refusal names the bound it
hit, so the user can tell a hostile input from an honest, very large one.

The nesting check here scans text without recursion, so it is safe to run *before* a
recursive parser (the standard library's ``json``, PyYAML's composer) sees the input.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_API_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_SUITE_BYTES",
    "MAX_SUITE_VALUES",
    "json_depth_exceeds",
]

MAX_SUITE_BYTES = 4 * 1024 * 1024  # a suite file; real ones are a few KB
MAX_DEPTH = 100  # levels of nested mappings/lists; Python's parsers recurse per level
MAX_SUITE_VALUES = 50_000  # values once YAML aliases are expanded (each alias counts anew)
MAX_API_BODY_BYTES = 8 * 1024 * 1024  # a /populate of ~50,000 proxies still fits

# A JSON string (escapes included, written as an unrolled loop so long strings scan in
# linear time), or one bracket. Strings are matched whole so brackets inside them are
# not counted.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``text`` nests arrays/objects more than ``limit`` levels deep.

    Works on any text (valid JSON or not) in one pass, without recursion; text with no
    more opening brackets than ``limit`` is answered without scanning.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKEN.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
