"""Per-copy placeholders in a suite file: ``${port:NAME}`` and ``${copy_dir}``.

A parallel run starts the suite's system several times side by side (``engine/copies.py``);
what must differ between two copies of the system is written with these placeholders:

* ``${port:NAME}``: a free loopback port named NAME, chosen for each copy; the same NAME
  gives the same port everywhere in one copy (a server's ``--port`` and the proxy that
  forwards to it), and a different port in every other copy;
* ``${copy_dir}``: the copy's own directory inside the run directory (data directories,
  sockets, pid files).

A sequential run is one copy: its placeholders are allocated once. The suite is read again
for each copy (:func:`~chaos_workbench.experiments.loader.load_suite` with ``copy=``), so
every value, including template files, sees that copy's ports and directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaos_workbench.host.spawn import free_ports

__all__ = ["COPY_DIR", "PORT_PREFIX", "CopyEnv", "CopyPlaces", "is_placeholder"]

PORT_PREFIX = "port:"
COPY_DIR = "copy_dir"
_PORT = re.compile(r"port:[A-Za-z_][A-Za-z0-9_-]*")


def is_placeholder(name: str) -> bool:
    """True for ``port:NAME`` and ``copy_dir`` (the names this module answers)."""
    return name == COPY_DIR or _PORT.fullmatch(name) is not None


@dataclass
class CopyPlaces:
    """One copy's ports (allocated on first use, by name) and its directory."""

    copy_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    # Ports given to any copy of the run: a port is released between its choice and the
    # server's bind, so the system could hand it out again to the next copy.
    taken: set[int] = field(default_factory=set)

    def port(self, name: str) -> int:
        """The copy's port named ``name`` (a free loopback port the first time)."""
        if name not in self.ports:
            for _ in range(100):  # bounded: 100 tries
                (candidate,) = free_ports(1)
                if candidate not in self.taken and candidate not in self.ports.values():
                    self.ports[name] = candidate
                    self.taken.add(candidate)
                    break
            else:  # pragma: no cover - 100 ports in a row already ours
                raise OSError(f"no free loopback port for ${{port:{name}}}")
        return self.ports[name]


class CopyEnv(Mapping[str, str]):
    """The environment a suite is expanded with, plus one copy's placeholders.

    ``${port:NAME}`` and ``${copy_dir}`` are answered by the copy; every other name by the
    environment. ``copy_dir`` is a placeholder before it is an environment variable.
    """

    def __init__(self, env: Mapping[str, str], places: CopyPlaces) -> None:
        self.env = env
        self.places = places

    def __getitem__(self, key: str) -> str:
        if key == COPY_DIR:
            return str(self.places.copy_dir)
        if _PORT.fullmatch(key):
            return str(self.places.port(key.removeprefix(PORT_PREFIX)))
        return self.env[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)

    def __contains__(self, key: object) -> bool:
        return (isinstance(key, str) and is_placeholder(key)) or key in self.env
