"""ProxyManager: Toxiproxy's defaults, JSON shapes, error table, populate/update/reset."""

from __future__ import annotations

import asyncio
import json

import pytest

from chaos_workbench.proxy import ProxyManager, ProxySpec, ToxicSpec, ToxicUpdate
from chaos_workbench.proxy import errors as E
from chaos_workbench.proxy.testing import Upstream, open_client, roundtrip_ms


async def test_create_reports_ephemeral_port_and_toxiproxy_shape(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    host, port = info.listen.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert list(json.loads(info.model_dump_json())) == [
        "name",
        "listen",
        "upstream",
        "enabled",
        "toxics",
    ]
    reader, writer = await open_client(info.listen)
    assert await roundtrip_ms(reader, writer) < 1000
    writer.close()


async def test_toxic_defaults_and_json_shape(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    toxic = manager.add_toxic("db", ToxicSpec(type="latency", attributes={"latency": 5}))
    assert json.loads(toxic.model_dump_json()) == {
        "attributes": {"latency": 5, "jitter": 0},  # Toxiproxy's: no default distribution
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    up = manager.add_toxic("db", ToxicSpec(type="bandwidth", stream="upstream"))
    assert up.name == "bandwidth_upstream"
    # Toxiproxy lists upstream toxics first, then downstream.
    assert [t.name for t in manager.toxics("db")] == ["bandwidth_upstream", "latency_downstream"]
    assert [t.name for t in manager.get("db").toxics] == [
        "bandwidth_upstream",
        "latency_downstream",
    ]


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (
            ToxicSpec(type="latency", stream="sideways"),
            E.InvalidStream,
            "stream was invalid, can be either upstream or downstream",
        ),
        (ToxicSpec(type="nope"), E.InvalidToxicType, "invalid toxic type"),
        (
            ToxicSpec(type="latency", attributes={"latency": "5"}),
            E.BadRequestBody,
            "bad request body",
        ),
        (
            ToxicSpec(type="latency", attributes={"latency": 5.5}),
            E.BadRequestBody,
            "bad request body",
        ),
        (
            ToxicSpec(type="latency", attributes={"latency": -1}),
            E.BadRequestBody,
            "bad request body",
        ),
    ],
)
async def test_bad_toxics_get_toxiproxy_errors_and_change_nothing(
    manager: ProxyManager,
    echo_upstream: Upstream,
    spec: ToxicSpec,
    error: type[E.ApiError],
    message: str,
) -> None:
    await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    before = manager.get("db")
    with pytest.raises(error) as caught:
        manager.add_toxic("db", spec)
    assert caught.value.message.startswith(message)
    assert caught.value.body()["status"] == error.status
    assert manager.get("db") == before


async def test_error_table_statuses(manager: ProxyManager, echo_upstream: Upstream) -> None:
    with pytest.raises(E.ProxyNotFound) as nf:
        manager.get("missing")
    assert nf.value.body() == {"error": "proxy not found", "status": 404}
    await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    with pytest.raises(E.ProxyAlreadyExists) as exists:
        await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    assert exists.value.body() == {"error": "proxy already exists", "status": 409}
    with pytest.raises(E.MissingField) as missing:
        await manager.create("", "127.0.0.1:0", echo_upstream.address)
    assert missing.value.body() == {"error": "missing required field: name", "status": 400}
    manager.add_toxic("db", ToxicSpec(type="noop"))
    with pytest.raises(E.ToxicAlreadyExists) as dup:
        manager.add_toxic("db", ToxicSpec(type="noop"))
    assert dup.value.body() == {"error": "toxic already exists", "status": 409}
    with pytest.raises(E.ToxicNotFound) as tnf:
        manager.remove_toxic("db", "nope")
    assert tnf.value.body() == {"error": "toxic not found", "status": 404}
    with pytest.raises(E.ToxicNotFound):
        manager.update_toxic("db", "nope", ToxicUpdate())


async def test_listen_in_use_is_a_500_and_nothing_is_added(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    with pytest.raises(E.ListenFailed) as caught:
        await manager.create("db", echo_upstream.address, echo_upstream.address)
    assert caught.value.status == 500
    # Go's net.Listen wording, as Toxiproxy sends it.
    assert caught.value.message == (
        f"listen tcp {echo_upstream.address}: bind: address already in use"
    )
    assert manager.list() == []


async def test_update_that_cannot_bind_changes_nothing(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    reader, writer = await open_client(info.listen)
    await roundtrip_ms(reader, writer)
    with pytest.raises(E.ListenFailed) as caught:
        await manager.update("db", listen=echo_upstream.address)
    assert caught.value.message == (
        f"listen tcp {echo_upstream.address}: bind: address already in use"
    )
    assert manager.get("db") == info
    # The connection opened before the refused update still relays.
    assert await roundtrip_ms(reader, writer) < 1000
    writer.close()


async def test_update_toxic_merges_attributes(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    manager.add_toxic("db", ToxicSpec(type="latency", attributes={"latency": 5, "jitter": 2}))
    updated = manager.update_toxic(
        "db", "latency_downstream", ToxicUpdate(attributes={"latency": 9}, toxicity=0.5)
    )
    assert updated.attributes.model_dump() == {"latency": 9, "jitter": 2}
    assert updated.toxicity == 0.5
    with pytest.raises(E.BadRequestBody):
        manager.update_toxic("db", "latency_downstream", ToxicUpdate(attributes={"jitter": "x"}))
    assert manager.get_toxic("db", "latency_downstream") == updated


async def test_disable_refuses_and_drops_then_enable_restores(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    reader, writer = await open_client(info.listen)
    await roundtrip_ms(reader, writer)
    disabled = await manager.update("db", enabled=False)
    assert disabled.enabled is False
    assert disabled.listen == info.listen
    # The open connection is dropped ...
    writer.write(b"x")
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 5)
    # ... and new ones are refused.
    with pytest.raises(ConnectionRefusedError):
        await open_client(info.listen)
    await manager.update("db", enabled=True)
    reader, writer = await open_client(info.listen)
    assert await roundtrip_ms(reader, writer) < 1000
    writer.close()


async def test_reset_enables_all_and_removes_toxics(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    await manager.create("a", "127.0.0.1:0", echo_upstream.address)
    await manager.create("b", "127.0.0.1:0", echo_upstream.address, enabled=False)
    manager.add_toxic("a", ToxicSpec(type="latency", attributes={"latency": 1000}))
    await manager.reset()
    assert all(p.enabled and not p.toxics for p in manager.list())
    reader, writer = await open_client(manager.get("a").listen)
    assert await roundtrip_ms(reader, writer) < 500
    writer.close()


async def test_populate_validates_all_first_and_keeps_unchanged(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    first = await manager.populate(
        [ProxySpec(name="a", listen="127.0.0.1:0", upstream=echo_upstream.address)]
    )
    manager.add_toxic("a", ToxicSpec(type="noop"))
    with pytest.raises(E.MissingField) as caught:
        await manager.populate(
            [
                ProxySpec(name="b", listen="127.0.0.1:0", upstream=echo_upstream.address),
                ProxySpec(name="c"),
            ]
        )
    assert caught.value.message == "missing required field: upstream at proxy 2"
    assert [p.name for p in manager.list()] == ["a"]
    # Same listen and upstream: kept as it is, toxics included.
    again = await manager.populate(
        [ProxySpec(name="a", listen=first[0].listen, upstream=echo_upstream.address)]
    )
    assert again[0].toxics
    assert again[0].listen == first[0].listen
    # Different: replaced (toxics gone).
    moved = await manager.populate(
        [ProxySpec(name="a", listen="127.0.0.1:0", upstream=echo_upstream.address)]
    )
    assert moved[0].toxics == ()


async def test_delete(manager: ProxyManager, echo_upstream: Upstream) -> None:
    info = await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    await manager.delete("db")
    assert manager.list() == []
    with pytest.raises(ConnectionRefusedError):
        await open_client(info.listen)
    with pytest.raises(E.ProxyNotFound):
        await manager.delete("db")


async def test_toxic_ttl_removes_itself(manager: ProxyManager, echo_upstream: Upstream) -> None:
    await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    manager.add_toxic("db", ToxicSpec(type="latency", attributes={"latency": 10}, ttl_ms=100))
    assert manager.toxics("db")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while manager.toxics("db") and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert manager.toxics("db") == []


async def test_live_metrics_while_connection_open(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("db", "127.0.0.1:0", echo_upstream.address)
    manager.add_toxic("db", ToxicSpec(type="latency", attributes={"latency": 1}))
    reader, writer = await open_client(info.listen)
    await roundtrip_ms(reader, writer, b"x" * 1000)
    stats = manager.stats()[0]
    assert stats.connections_open == 1
    assert stats.connections_total == 1
    assert stats.bytes_upstream == 1000
    assert stats.bytes_downstream == 1000
    assert stats.toxic_actions[0].toxic == "latency_downstream"
    assert stats.toxic_actions[0].count >= 1
    writer.close()
    await writer.wait_closed()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while manager.stats()[0].connections_open and loop.time() < deadline:
        await asyncio.sleep(0.01)
    after = manager.stats()[0]
    assert after.connections_open == 0
    assert after.bytes_upstream == 1000


async def test_populate_duplicate_names_is_500_with_toxiproxy_text(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    spec = ProxySpec(name="a", listen="127.0.0.1:0", upstream=echo_upstream.address)
    with pytest.raises(E.ApiError) as caught:
        await manager.populate([spec, spec])
    assert caught.value.body() == {"error": 'duplicate proxy name "a"', "status": 500}
    assert manager.list() == []


async def test_update_listen_and_upstream_move_the_proxy(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("db", "127.0.0.1:0", "127.0.0.1:1")
    moved = await manager.update("db", listen="127.0.0.1:0", upstream=echo_upstream.address)
    assert moved.upstream == echo_upstream.address
    assert moved.listen != info.listen
    reader, writer = await open_client(moved.listen)
    assert await roundtrip_ms(reader, writer) < 1000
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await open_client(info.listen)


async def test_created_disabled_does_not_listen(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("db", "127.0.0.1:0", echo_upstream.address, enabled=False)
    assert info.enabled is False
    assert info.listen == "127.0.0.1:0"
    enabled = await manager.update("db", enabled=True)
    assert enabled.listen != "127.0.0.1:0"
    reader, writer = await open_client(enabled.listen)
    assert await roundtrip_ms(reader, writer) < 1000
    writer.close()
