"""The plugin's tests: pytester runs inner pytest sessions in subprocesses.

``pytest_plugins = ["pytester"]`` is refused in a conftest below the top level when the
whole suite runs, so pytester is registered here at configure time instead.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
