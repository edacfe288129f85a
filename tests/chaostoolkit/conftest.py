"""Fixtures of tests/chaostoolkit; this folder is on sys.path for ``ctk_support`` and for
``ctk_helpers``, the module the experiments' python providers call (importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ctk_support import service

__all__ = ["service"]
