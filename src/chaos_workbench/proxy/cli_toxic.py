"""``cwb toxic``: add, update, remove and list toxics through any Toxiproxy-compatible API.

The commands mirror ``toxiproxy-cli toxic`` (``add``, ``update``, ``remove``, ``list``),
with attributes given as ``-a key=value`` (read as JSON when the value parses). Mounted on
``cwb`` as ``toxic``; re-exported by :mod:`chaos_workbench.proxy.cli`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from chaos_workbench.proxy._cli_common import DEFAULT_API, ApiOption, call, fail, out, print_proxy
from chaos_workbench.proxy.client import ToxiproxyClient

__all__ = ["toxic_app"]

toxic_app = typer.Typer(
    name="toxic",
    help="Add, update, remove and list toxics on a proxy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AttrOption = Annotated[
    list[str] | None,
    typer.Option(
        "--attribute",
        "-a",
        help="key=value; the value is read as JSON when it parses (1000, 0.5, true), else text.",
    ),
]
ToxicityOption = Annotated[
    float | None, typer.Option("--toxicity", min=0.0, max=1.0, help="Share of connections.")
]


def _attributes(pairs: list[str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key:
            fail(f"attribute {pair!r}: expected key=value")
        try:
            attributes[key] = json.loads(text)
        except ValueError:
            attributes[key] = text
    return attributes


@toxic_app.command("add")
def toxic_add(
    proxy: str,
    type: Annotated[str, typer.Option("--type", "-t", help="Toxic type, e.g. latency.")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Default: <type>_<stream>.")
    ] = None,
    upstream: Annotated[
        bool, typer.Option("--upstream", "-u", help="Act on client → server bytes.")
    ] = False,
    toxicity: ToxicityOption = None,
    attribute: AttrOption = None,
    api: ApiOption = DEFAULT_API,
) -> None:
    """Add a toxic to a proxy (downstream unless --upstream)."""
    stream = "upstream" if upstream else "downstream"
    toxic = call(
        api,
        lambda c: c.create_toxic(
            proxy,
            type=type,
            name=name,
            stream=stream,
            toxicity=1.0 if toxicity is None else toxicity,
            attributes=_attributes(attribute),
        ),
    )
    out.print(
        f"Added {toxic.stream} {toxic.type} toxic '{toxic.name}' on proxy '{proxy}'", markup=False
    )


@toxic_app.command("update")
def toxic_update(
    proxy: str,
    name: Annotated[str, typer.Option("--name", "-n", help="The toxic to change.")],
    toxicity: ToxicityOption = None,
    attribute: AttrOption = None,
    api: ApiOption = DEFAULT_API,
) -> None:
    """Change a toxic's toxicity or attributes (the others keep their values)."""
    attributes = _attributes(attribute)
    if toxicity is None and not attributes:
        fail("nothing to update: give --toxicity and/or -a key=value")
    call(
        api,
        lambda c: c.update_toxic(proxy, name, toxicity=toxicity, attributes=attributes or None),
    )
    out.print(f"Updated toxic '{name}' on proxy '{proxy}'", markup=False)


@toxic_app.command("remove")
def toxic_remove(
    proxy: str,
    name: Annotated[str, typer.Option("--name", "-n", help="The toxic to remove.")],
    api: ApiOption = DEFAULT_API,
) -> None:
    """Remove a toxic (an error if it is not there)."""

    async def remove(client: ToxiproxyClient) -> None:
        await client.toxic(proxy, name)  # a typo must say "toxic not found", not succeed
        await client.remove_toxic(proxy, name)

    call(api, remove)
    out.print(f"Removed toxic '{name}' on proxy '{proxy}'", markup=False)


@toxic_app.command("list")
def toxic_list(proxy: str, api: ApiOption = DEFAULT_API) -> None:
    """List a proxy's toxics."""
    print_proxy(call(api, lambda c: c.proxy(proxy)))
