"""Names that come from a suite file (or a Python caller) and end up in the file system.

Two kinds of name, two rules:

* an **identifier** (a proxy or process name) is used as written: in file names
  (``logs/<process>.log``, ``pids/<process>.pid``), cgroup names and proxy API URLs. It
  is 1–64 characters from ``A-Z a-z 0-9 _ . -`` and does not start with ``.`` or ``-``, so
  it is never ``.``, ``..``, hidden, or taken for an option.
* a **label** (the service, an experiment) is free text for people to read: ``db latency
  500ms`` and ``payments: 80% 503`` are fine. It is 1–128 characters, not blank, without
  control characters (newlines, escapes, NUL), lone surrogates or bidi overrides, which
  would garble or disguise terminals and reports.

Wherever a name becomes a path component it goes through :func:`safe_file_name`, whatever
validated it (a caller may build a model with ``model_construct``): the result is one
component that cannot leave its parent directory, fits any file system's name limit, and
stays distinct for distinct names.

Paths, command arguments and environment values are the user's to choose, but the OS takes
none with a NUL in it (``"\\0"`` is a valid escape in YAML and JSON strings): ``OsText``
refuses it when the file is loaded, not when the process is started.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

__all__ = [
    "MAX_IDENTIFIER_LENGTH",
    "MAX_LABEL_LENGTH",
    "EnvName",
    "Identifier",
    "Label",
    "LabelOrEmpty",
    "OsText",
    "check_env_name",
    "check_identifier",
    "check_label",
    "check_os_text",
    "safe_file_name",
]

MAX_IDENTIFIER_LENGTH = 64
MAX_LABEL_LENGTH = 128
# One path component: well under NAME_MAX (255 bytes) so callers can add a prefix/suffix.
DEFAULT_FILE_NAME_LENGTH = 100
_DIGEST_CHARS = 10  # 40 bits of SHA-256: distinct names stay distinct after mapping

_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")
_DOTS_AND_DASHES = re.compile(r"[.-]{2,}")  # "x-..-..-escaped" reads as "x-escaped"
_IDENTIFIER_RULE = (
    f"1 to {MAX_IDENTIFIER_LENGTH} letters, digits, '_', '.' or '-', not starting "
    "with '.' or '-' (it names files, cgroups and proxy URLs)"
)
# Bidi embeddings, overrides and isolates: they reorder what a reader sees.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def check_identifier(value: str) -> str:
    """``value`` if it is a valid identifier; ValueError saying what was expected."""
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"expected {_IDENTIFIER_RULE}; got {len(value)} characters")
    if not value:
        raise ValueError(f"expected {_IDENTIFIER_RULE}; got an empty name")
    if not _IDENTIFIER.fullmatch(value):
        bad = _UNSAFE_RUN.search(value)
        why = f"{bad.group(0)[0]!r} is not allowed" if bad else f"it starts with {value[0]!r}"
        raise ValueError(f"expected {_IDENTIFIER_RULE}; got {_shown(value)}: {why}")
    return value


def check_label(value: str, *, allow_empty: bool = False) -> str:
    """``value`` if it is a valid label; ValueError saying what was expected."""
    if len(value) > MAX_LABEL_LENGTH:
        raise ValueError(f"expected at most {MAX_LABEL_LENGTH} characters, got {len(value)}")
    if not value.strip() and not (allow_empty and not value):
        raise ValueError("expected a name with at least one visible character")
    for char in value:
        if unicodedata.category(char) in _UNPRINTABLE_CATEGORIES or char in _BIDI_CONTROLS:
            raise ValueError(
                f"control character U+{ord(char):04X} is not allowed in a name "
                "(names are shown in terminals and reports)"
            )
    return value


def _label_or_empty(value: str) -> str:
    return check_label(value, allow_empty=True)


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:40]) + "…"


# Length first, with pydantic's own messages ("String should have at most 64 characters");
# then the character rules, with ours.
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH),
    AfterValidator(check_identifier),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
            "minLength": 1,
            "maxLength": MAX_IDENTIFIER_LENGTH,
        }
    ),
]
"""A proxy or process name, used as written in file names and URLs."""

Label = Annotated[
    str, Field(min_length=1, max_length=MAX_LABEL_LENGTH), AfterValidator(check_label)
]
"""A name for people (service, experiment): free text, one line, not blank."""

LabelOrEmpty = Annotated[str, Field(max_length=MAX_LABEL_LENGTH), AfterValidator(_label_or_empty)]
"""An optional label (guardrail, probe): empty, or a valid label."""


def safe_file_name(name: str, *, max_length: int = DEFAULT_FILE_NAME_LENGTH) -> str:
    """One path component standing for ``name``, that cannot leave its directory.

    A valid identifier no longer than ``max_length`` is returned unchanged. Anything else
    keeps its letters, digits, ``_ . -`` (other runs, and runs of dots and dashes, become
    one ``-``; leading and trailing ones go), is cut to fit, and gets ``-`` and 10 hex digits of the name's SHA-256, so two
    names that differ only in what was replaced still map apart: ``"db latency 500ms"``
    → ``"db-latency-500ms-<hash>"``, ``"x/../../escaped"`` → ``"x-escaped-<hash>"``.
    The result is never empty, ``.`` or ``..``, and holds no ``/`` or NUL.
    """
    if max_length < 2 * _DIGEST_CHARS:
        raise ValueError(f"max_length must be at least {2 * _DIGEST_CHARS}, got {max_length}")
    if len(name) <= max_length and _IDENTIFIER.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    room = max_length - _DIGEST_CHARS - 1
    stem = _DOTS_AND_DASHES.sub("-", _UNSAFE_RUN.sub("-", name)).strip(".-")[:room].rstrip(".-")
    return f"{stem}-{digest}" if stem else digest


def check_os_text(value: str) -> str:
    """``value`` if the OS can take it as a path, argument or environment value (no NUL)."""
    if "\x00" in value:
        raise ValueError(
            "NUL (U+0000) cannot appear in a path, a command argument or an environment value"
        )
    return value


def check_env_name(value: str) -> str:
    """``value`` if it can name an environment variable (not empty, no ``=`` or NUL)."""
    if not value or "=" in value or "\x00" in value:
        raise ValueError(f"expected an environment variable name without '=' or NUL, got {value!r}")
    return value


OsText = Annotated[str, AfterValidator(check_os_text)]
"""A path, command argument or environment value: any text without NUL."""

EnvName = Annotated[str, AfterValidator(check_env_name)]
"""The name of an environment variable."""
