"""Python-provider functions the test experiments call (``module: ctk_helpers``)."""

from __future__ import annotations

import time
import urllib.request
from typing import Any


def constant(value: Any) -> Any:
    return value


def is_positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def boom(message: str = "boom") -> None:
    raise RuntimeError(message)


def elapsed_ms(url: str, timeout: float = 5.0) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()
    return (time.perf_counter() - start) * 1000


def show(
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **arguments: Any,
) -> dict[str, Any]:
    return {"arguments": arguments, "configuration": configuration, "secrets": secrets}
