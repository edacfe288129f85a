"""Toxiproxy's API error table: one exception class per error, each with its HTTP status
and the exact message Toxiproxy's ``api.go`` sends, so clients that match on either keep
working.

The API layer turns any :class:`ApiError` into the body ``{"error": message, "status": N}``
with status ``N`` (see :meth:`ApiError.body`). Errors that Toxiproxy "joins" with a detail
(``bad request body: <why>``, ``missing required field: name``) take the detail as the
constructor argument.

Exceptions::

    ApiError                    base: .status (HTTP), .message (exact text), .body()
    ├── BadRequestBody          400 "bad request body[: detail]"
    ├── MissingField            400 "missing required field[: field]"
    ├── InvalidStream           400 "stream was invalid, can be either upstream or downstream"
    ├── InvalidToxicType        400 "invalid toxic type"
    ├── ProxyNotFound           404 "proxy not found"
    ├── ToxicNotFound           404 "toxic not found"
    ├── ProxyAlreadyExists      409 "proxy already exists"
    ├── ToxicAlreadyExists      409 "toxic already exists"
    └── ListenFailed            500 the OS error of binding the listen address
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ApiError",
    "BadRequestBody",
    "InvalidStream",
    "InvalidToxicType",
    "ListenFailed",
    "MissingField",
    "ProxyAlreadyExists",
    "ProxyNotFound",
    "ToxicAlreadyExists",
    "ToxicNotFound",
]


class ApiError(Exception):
    """An error with Toxiproxy's HTTP status and message."""

    status: ClassVar[int] = 500
    base_message: ClassVar[str] = "internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        if detail is None:
            self.message = self.base_message
        elif type(self) is ApiError:
            self.message = detail  # an error Toxiproxy has no name for: its text, status 500
        else:
            self.message = f"{self.base_message}: {detail}"
        super().__init__(self.message)

    def body(self) -> dict[str, str | int]:
        """The JSON body Toxiproxy sends: ``{"error": message, "status": status}``."""
        return {"error": self.message, "status": self.status}


class BadRequestBody(ApiError):
    """The JSON could not be decoded or a field has the wrong type or value."""

    status = 400
    base_message = "bad request body"


class MissingField(ApiError):
    """A required field (``name``, ``upstream``) is missing or empty."""

    status = 400
    base_message = "missing required field"


class InvalidStream(ApiError):
    """A toxic's ``stream`` is neither ``upstream`` nor ``downstream``."""

    status = 400
    base_message = "stream was invalid, can be either upstream or downstream"


class InvalidToxicType(ApiError):
    """No toxic of that ``type`` is registered."""

    status = 400
    base_message = "invalid toxic type"


class ProxyNotFound(ApiError):
    """No proxy has that name."""

    status = 404
    base_message = "proxy not found"


class ToxicNotFound(ApiError):
    """The proxy has no toxic of that name."""

    status = 404
    base_message = "toxic not found"


class ProxyAlreadyExists(ApiError):
    """A proxy with that name exists already."""

    status = 409
    base_message = "proxy already exists"


class ToxicAlreadyExists(ApiError):
    """The proxy has a toxic with that name already (in either stream)."""

    status = 409
    base_message = "toxic already exists"


class ListenFailed(ApiError):
    """The listen address could not be bound; the message is the OS error (Toxiproxy: 500)."""

    status = 500
    base_message = "listen failed"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        # Toxiproxy sends the bare Go error text, e.g. "listen tcp 127.0.0.1:1: bind: ...".
        if detail is not None:
            self.message = detail
            self.args = (detail,)
