"""HTTP/1.x heads: what the toxics need to know about one request or response head.

``parse_request_head`` / ``parse_response_head`` take a complete head (up to and including
the blank line), have llhttp (``httptools``) validate it, and return a frozen record with
the raw bytes, the start-line fields and how the body is framed (RFC 9112 §6.3). The
framing headers are found in the raw head directly and httptools runs without callbacks:
that halves the CPU per message compared with collecting every header through callbacks,
and most messages never need their other headers (``headers`` parses them on demand).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

import httptools

__all__ = [
    "Framing",
    "RequestHead",
    "ResponseHead",
    "parse_request_head",
    "parse_response_head",
    "split_headers",
]


class Framing(enum.Enum):
    """How a message's body is delimited on the wire."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until_close"


def split_headers(raw: bytes) -> tuple[tuple[str, str], ...]:
    """The header fields of a complete head, in order, values trimmed of whitespace."""
    out = []
    for line in raw[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        out.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A parsed request head; ``raw`` is exactly the bytes that arrived."""

    raw: bytes
    method: str
    target: str
    version: str
    framing: Framing
    content_length: int
    keep_alive: bool

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Parsed on demand: most requests only need the framing, found without it."""
        return split_headers(self.raw)

    @property
    def path(self) -> str:
        """The target without its query string (what path patterns match against)."""
        return self.target.split("?", 1)[0]

    @property
    def expect_continue(self) -> bool:
        return any(n.lower() == "expect" and v.lower() == "100-continue" for n, v in self.headers)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A parsed response head; ``raw`` is exactly the bytes that arrived."""

    raw: bytes
    status: int
    version: str
    framing: Framing
    content_length: int

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return split_headers(self.raw)

    @property
    def interim(self) -> bool:
        """A 1xx other than 101: the final response for the same request still follows."""
        return 100 <= self.status < 200 and self.status != 101


# Header names cannot be preceded by whitespace or followed by it before the colon (llhttp
# refuses both), so on the lower-cased head these find exactly the framing fields.
_TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding:([^\r]*)")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:([^\r]*)")


def _body_framing(raw: bytes, *, is_request: bool) -> tuple[Framing, int]:
    """RFC 9112 §6.3 for the parts that depend only on the headers; raises ValueError."""
    lower = raw.lower()
    if b"\r\ntransfer-encoding:" in lower:
        te = [m.group(1) for m in _TRANSFER_ENCODING.finditer(lower)]
        codings = [c.strip() for v in te for c in v.split(b",") if c.strip()]
        if codings and codings[-1] == b"chunked":
            return Framing.CHUNKED, 0
        if is_request:  # §6.3 rule 4: a request we cannot frame; the server would send 400
            raise ValueError("request Transfer-Encoding does not end in chunked")
        return Framing.UNTIL_CLOSE, 0
    if b"\r\ncontent-length:" in lower:
        values = {
            x.strip() for m in _CONTENT_LENGTH.finditer(lower) for x in m.group(1).split(b",")
        }
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise ValueError(f"bad Content-Length {sorted(values)!r}")
        n = int(next(iter(values)))
        return (Framing.LENGTH, n) if n else (Framing.NONE, 0)
    return (Framing.NONE, 0) if is_request else (Framing.UNTIL_CLOSE, 0)


class _NoCallbacks:
    """httptools calls only the callbacks its protocol object has: none, for speed."""

    __slots__ = ()


_NO_CALLBACKS: Final = _NoCallbacks()


def _feed_head(
    parser: httptools.HttpRequestParser | httptools.HttpResponseParser, raw: bytes
) -> None:
    """Feed a whole head; raises ValueError unless llhttp accepted it."""
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # CONNECT, Upgrade or 101: llhttp stops after the head, which is all we need
    except httptools.HttpParserError as e:
        # llhttp pauses after a 101 / CONNECT head even without an Upgrade header, and
        # says so with this error; the head itself was parsed.
        if "Pause on CONNECT/Upgrade" not in str(e):
            raise ValueError(str(e)) from None


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a complete request head (ending in a blank line); raises ValueError."""
    parser = httptools.HttpRequestParser(_NO_CALLBACKS)
    _feed_head(parser, raw)  # validation by llhttp; the fields are read from raw below
    method, target, _ = raw[: raw.index(b"\r\n")].split(b" ", 2)
    framing, length = _body_framing(raw, is_request=True)
    return RequestHead(
        raw=raw,
        method=method.decode("latin-1"),
        target=target.decode("latin-1"),
        version=parser.get_http_version(),
        framing=framing,
        content_length=length,
        keep_alive=bool(parser.should_keep_alive()),
    )


def parse_response_head(raw: bytes, request_method: str) -> ResponseHead:
    """Parse a complete response head to a request with ``request_method``."""
    parser = httptools.HttpResponseParser(_NO_CALLBACKS)
    _feed_head(parser, raw)
    status = int(parser.get_status_code())
    # §6.3 rules 1-2: these responses never have a body, whatever their headers say.
    no_body = (
        request_method == "HEAD"
        or 100 <= status < 200
        or status in (204, 304)
        or (request_method == "CONNECT" and 200 <= status < 300)
    )
    framing, length = (Framing.NONE, 0) if no_body else _body_framing(raw, is_request=False)
    return ResponseHead(
        raw=raw,
        status=status,
        version=parser.get_http_version(),
        framing=framing,
        content_length=length,
    )
