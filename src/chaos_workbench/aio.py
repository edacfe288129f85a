"""What every long-lived async object of the product shares (anyio's ``AsyncResource``).

A resource is used as ``async with Thing(...) as thing:`` or opened by hand and closed with
``await thing.aclose()``; leaving the block closes it whatever happened. A subclass
implements :meth:`aclose` (idempotent) and, when entering must start something, ``_on_enter``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["AsyncResource"]


class AsyncResource(ABC):
    """``async with`` opens (``_on_enter``) and always closes (:meth:`aclose`)."""

    async def _on_enter(self) -> None:  # noqa: B027 - optional: most resources start in __init__
        """Start what entering the ``async with`` block starts (nothing by default)."""

    async def __aenter__(self) -> Self:
        await self._on_enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @abstractmethod
    async def aclose(self) -> None:
        """Release everything the resource holds. Idempotent: closing twice is harmless."""
