"""The proxy's state as data: frozen models whose JSON shape is exactly Toxiproxy's.

``ProxyInfo`` dumps as ``{"name", "listen", "upstream", "enabled", "toxics"}`` and
``ToxicInfo`` as ``{"attributes", "name", "type", "stream", "toxicity"}``, in Toxiproxy's
field order, so ``model_dump(mode="json")`` is what the API sends. ``ToxicSpec`` is what a
client asks for (a toxic to add), ``ToxicUpdate`` what it changes, ``ProxySpec`` one entry
of ``/populate``; the manager validates them in Toxiproxy's order (stream, type, name,
attributes) so each mistake gets Toxiproxy's error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SerializeAsAny

from chaos_workbench.proxy.toxics.base import Stream, ToxicAttributes

__all__ = [
    "ProxyInfo",
    "ProxySpec",
    "ProxyStats",
    "Stream",
    "ToxicActionCount",
    "ToxicInfo",
    "ToxicSpec",
    "ToxicUpdate",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ToxicSpec(_Frozen):
    """A toxic to add. Defaults are Toxiproxy's: stream downstream, toxicity 1.0,
    name ``<type>_<stream>``. ``stream`` and ``type`` are plain strings here so the manager
    can answer a bad one with Toxiproxy's exact error, not a generic validation error."""

    type: str
    name: str | None = None
    stream: str = "downstream"
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    ttl_ms: int | None = Field(
        default=None,
        gt=0,
        description="Time to live: the toxic removes itself this long after it was added.",
    )


class ToxicUpdate(_Frozen):
    """Changes to a toxic (Toxiproxy merges ``attributes`` into the current ones)."""

    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    toxicity: float | None = Field(default=None, ge=0.0, le=1.0)


class ToxicInfo(_Frozen):
    """A toxic as the API shows it."""

    attributes: SerializeAsAny[ToxicAttributes]
    name: str
    type: str
    stream: Stream
    toxicity: float


class ProxyInfo(_Frozen):
    """A proxy as the API shows it; ``listen`` is the bound address (port 0 resolved)."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()


class ProxySpec(_Frozen):
    """One proxy of ``/populate`` or a config file (Toxiproxy's format)."""

    name: str = ""
    listen: str = ""
    upstream: str = ""
    enabled: bool = True


class ToxicActionCount(_Frozen):
    """How often one toxic acted on traffic (a monotonic counter; survives the toxic)."""

    toxic: str
    type: str
    stream: Stream
    count: int


class ProxyStats(_Frozen):
    """Live counters of one proxy, read at scrape time (not only when connections close).

    ``bytes_upstream`` counts bytes received from clients (client → server),
    ``bytes_downstream`` bytes received from the upstream (server → client); the
    ``sent_`` pair counts what the proxy wrote on in each direction after its toxics (less
    when a toxic drops or swallows bytes, more when one answers for the upstream).
    """

    name: str
    listen: str
    upstream: str
    enabled: bool
    connections_open: int
    connections_total: int
    bytes_upstream: int
    bytes_downstream: int
    sent_bytes_upstream: int = 0
    sent_bytes_downstream: int = 0
    toxic_actions: tuple[ToxicActionCount, ...] = ()
