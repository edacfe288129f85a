"""Bounds on structured input that may come from anyone: a suite file from a pull request,
a body sent to the fault proxy's API.

Every bound is far above what a real suite or API call needs (the demo suite is 6 KB, 5
levels deep, 171 values; a Toxiproxy client sends bodies under 1 KB, 3 levels deep)
and low enough that refusing an input costs milliseconds, not the minutes and gigabytes a
"billion laughs" file or 100,000 nested brackets would. Each refusal names the bound it
hit, so the user can tell a hostile input from an honest, very large one.

The nesting check here scans text without recursion, so it is safe to run *before* a
recursive parser (the standard library's ``json``, PyYAML's composer) sees the input.

The fault proxy's control API has bounds of its own below (names, request line, connection
timing and count): Toxiproxy's Go server sets the same kind (``api.go``: ``ReadTimeout``
15 s, ``IdleTimeout`` 60 s), and where it sets one we take its value.
"""

from __future__ import annotations

import re
import socket

__all__ = [
    "API_IDLE_TIMEOUT_S",
    "API_LISTEN_BACKLOG",
    "API_READ_TIMEOUT_S",
    "MAX_API_BODY_BYTES",
    "MAX_API_CONNECTIONS_CEILING",
    "MAX_API_CONNECTIONS_FLOOR",
    "MAX_API_REQUEST_LINE_BYTES",
    "MAX_DEPTH",
    "MAX_JSON_NUMBER_DIGITS",
    "MAX_NAME_CHARS",
    "MAX_SUITE_BYTES",
    "MAX_SUITE_VALUES",
    "json_depth_exceeds",
    "max_api_connections",
]

MAX_SUITE_BYTES = 4 * 1024 * 1024  # a suite file; real ones are a few KB
MAX_DEPTH = 100  # levels of nested mappings/lists; Python's parsers recurse per level
MAX_SUITE_VALUES = 50_000  # values once YAML aliases are expanded (each alias counts anew)
MAX_API_BODY_BYTES = 8 * 1024 * 1024  # a /populate of ~50,000 proxies still fits
# Digits of one JSON number: Python's own bound for int/str conversion (its default
# sys.get_int_max_str_digits(), quadratic beyond); Go reads any length. No real number in a
# body has more than 20 (an int64).
MAX_JSON_NUMBER_DIGITS = 4_300
# A proxy or toxic name, in characters. It travels in the URL (/proxies/{name}/toxics/
# {name}): percent-encoded, a character takes up to 12 bytes (4 UTF-8 bytes as %XX), so two
# names of this length fit MAX_API_REQUEST_LINE_BYTES and every name the API accepts can be
# fetched, updated and deleted. Real names are a service's name (the demo's: 2-10 chars).
MAX_NAME_CHARS = 1_024
# The request line the API reads (aiohttp's default, 8,190 bytes, would refuse the URL of a
# name ~700 characters long; Go reads 1 MB of request head). 2 × 12 × 1,024 + the rest.
MAX_API_REQUEST_LINE_BYTES = 32 * 1024
# Time to read one request, head and body, from its first byte (the first request of a
# connection: from the accept), else the connection is closed. Toxiproxy's ReadTimeout.
API_READ_TIMEOUT_S = 15.0
# An idle keep-alive connection is closed after this long. Toxiproxy's IdleTimeout.
API_IDLE_TIMEOUT_S = 60.0
# The kernel queue of connections not accepted yet: a burst of clients waits there (costing
# the server no descriptor) instead of being refused. Linux caps it at net.core.somaxconn.
API_LISTEN_BACKLOG = max(socket.SOMAXCONN, 4096)
# Open API connections at most: a quarter of the process's descriptors (RLIMIT_NOFILE's
# soft limit), the rest are the proxies' (each relayed connection takes two), within these
# bounds. Past the cap the oldest connection that is not running a request is closed.
MAX_API_CONNECTIONS_FLOOR = 16
MAX_API_CONNECTIONS_CEILING = 1_024

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


def max_api_connections(nofile_soft_limit: int | None = None) -> int:
    """How many connections the control API keeps open at most (see the table above).

    ``nofile_soft_limit`` defaults to this process's ``RLIMIT_NOFILE`` soft limit (1,024 →
    256 connections; 20,000 or unlimited → the ceiling, 1,024).
    """
    if nofile_soft_limit is None:
        try:
            import resource  # POSIX only
        except ImportError:
            return MAX_API_CONNECTIONS_CEILING
        nofile_soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile_soft_limit < 0:  # RLIM_INFINITY is -1
        return MAX_API_CONNECTIONS_CEILING
    share = nofile_soft_limit // 4
    return max(MAX_API_CONNECTIONS_FLOOR, min(MAX_API_CONNECTIONS_CEILING, share))
