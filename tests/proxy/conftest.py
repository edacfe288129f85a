"""Fixtures for the proxy tests: a real echo upstream and a manager, both on loopback."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from chaos_workbench.proxy import ProxyManager
from chaos_workbench.proxy.testing import Upstream, serve


@pytest.fixture
async def echo_upstream() -> AsyncIterator[Upstream]:
    """An echo server: sends back every byte, half-closes after the client's EOF."""
    async with serve() as upstream:
        yield upstream


@pytest.fixture
async def manager() -> AsyncIterator[ProxyManager]:
    async with ProxyManager(rng=random.Random(1234)) as mgr:
        yield mgr
