"""Which requests an HTTP toxic acts on: a method and a path pattern, both optional.

``path`` is a shell-style glob (``fnmatch``: ``*`` matches any run of characters, ``/``
included; ``?`` one character; ``[abc]`` a set), matched against the whole request path
without its query string and case-sensitively. ``path_regex`` is a Python regular
expression that must match the whole path (``re.fullmatch``). At most one of the two may
be given; neither matches every path. ``method`` is one method or a list of them,
compared case-insensitively (methods are case-sensitive in HTTP, but nobody means ``get``).
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property
from typing import Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from chaos_workbench.proxy.http._framing import RequestHead
from chaos_workbench.proxy.toxics.base import ToxicAttributes

__all__ = ["MessageMatch", "check_header_name", "check_header_value"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_header_name(name: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    return name


def check_header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"header value {value!r} contains CR, LF or NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header value {value!r} is not latin-1 text") from None
    return value


class MessageMatch(ToxicAttributes):
    """The request filter every HTTP toxic's attributes carry.

    Unlike Toxiproxy's own toxics, unknown attribute names are refused: a misspelt
    ``paht`` would otherwise silently match every request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    method: tuple[str, ...] = Field(
        default=(), description="Methods to act on (a string or a list); empty: any method."
    )
    path: str | None = Field(default=None, description="Glob on the path (query excluded).")
    path_regex: str | None = Field(default=None, description="Regex, fullmatch on the path.")

    @field_validator("method", mode="before")
    @classmethod
    def _methods(cls, v: object) -> object:
        if v is None or v == "":
            return ()
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list | tuple):
            out = []
            for m in v:
                if not isinstance(m, str) or not _TOKEN.fullmatch(m):
                    raise ValueError(f"{m!r} is not an HTTP method")
                out.append(m.upper())
            return tuple(out)
        return v

    @field_validator("path_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"path_regex {v!r} does not compile: {e}") from None
        return v

    @model_validator(mode="after")
    def _one_pattern(self) -> Self:
        if self.path is not None and self.path_regex is not None:
            raise ValueError("give either path (a glob) or path_regex, not both")
        return self

    @cached_property
    def _path_re(self) -> re.Pattern[str] | None:
        if self.path_regex is not None:
            return re.compile(self.path_regex)
        if self.path is not None:
            return re.compile(fnmatch.translate(self.path))
        return None

    def matches(self, head: RequestHead) -> bool:
        if self.method and head.method.upper() not in self.method:
            return False
        pattern = self._path_re
        return pattern is None or pattern.fullmatch(head.path) is not None
