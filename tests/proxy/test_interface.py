"""The toxic interface's contract, as the HTTP toxics use it: per-connection state shared by
both directions, swallowing bytes on one stream and answering from the other, resetting
mid-stream; and the precise clock under it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chaos_workbench.proxy import ProxyManager, ToxicSpec
from chaos_workbench.proxy.testing import Upstream, open_client
from chaos_workbench.proxy.timing import Clock
from chaos_workbench.proxy.toxics.base import Pipe, PipeContext, Toxic, ToxicAttributes, register

CANNED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"


class _Attrs(ToxicAttributes):
    after_bytes: int = 0


class _CannedState:
    def __init__(self) -> None:
        self.reverse: _CannedReverse | None = None
        self.swallowed = 0


class _CannedForward(Pipe):
    def feed(self, data: bytes) -> None:
        state: _CannedState = self.ctx.state
        state.swallowed += len(data)  # never passed on: the upstream sees nothing
        self.ctx.record_action()
        if state.reverse is not None:
            state.reverse.answer()


class _CannedReverse(Pipe):
    def answer(self) -> None:
        self.out.feed(CANNED)


@register
class _CannedToxic(Toxic[_Attrs]):
    type_name = "test_canned"
    attributes_model = _Attrs

    def new_state(self) -> _CannedState:
        return _CannedState()

    def pipe(self, ctx: PipeContext) -> Pipe:
        return _CannedForward(ctx)

    def reverse_pipe(self, ctx: PipeContext) -> Pipe:
        reverse = _CannedReverse(ctx)
        ctx.state.reverse = reverse
        return reverse


class _CutPipe(Pipe):
    """Pass ``after_bytes`` bytes, then reset the connection (an abort mid-response)."""

    def __init__(self, ctx: PipeContext, after_bytes: int) -> None:
        super().__init__(ctx)
        self.left = after_bytes

    def feed(self, data: bytes) -> None:
        if len(data) < self.left:
            self.left -= len(data)
            self.out.feed(data)
            return
        self.out.feed(data[: self.left])
        self.ctx.connection.reset()


@register
class _CutToxic(Toxic[_Attrs]):
    type_name = "test_cut"
    attributes_model = _Attrs

    def pipe(self, ctx: PipeContext) -> Pipe:
        return _CutPipe(ctx, self.attributes.after_bytes)


async def test_swallow_one_stream_answer_on_the_other(
    manager: ProxyManager, echo_upstream: Upstream
) -> None:
    info = await manager.create("p", "127.0.0.1:0", echo_upstream.address)
    manager.add_toxic("p", ToxicSpec(type="test_canned", stream="upstream"))
    reader, writer = await open_client(info.listen)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await asyncio.wait_for(reader.readexactly(len(CANNED)), 5) == CANNED
    # The echo upstream never got the request: nothing else comes back.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    assert manager.stats()[0].bytes_upstream > 0
    assert manager.stats()[0].toxic_actions[0].count == 1
    writer.close()


async def test_reset_mid_stream(manager: ProxyManager, echo_upstream: Upstream) -> None:
    info = await manager.create("p", "127.0.0.1:0", echo_upstream.address)
    manager.add_toxic("p", ToxicSpec(type="test_cut", attributes={"after_bytes": 10}))
    reader, writer = await open_client(info.listen)
    writer.write(b"0123456789abcdefghij")
    got, reset = await _read_to_end(reader)
    assert reset  # a TCP RST, not a clean close
    assert b"0123456789".startswith(got)  # never a byte past the cut
    writer.close()


async def _read_to_end(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    got = b""
    for _ in range(100):  # bounded: EOF or a reset ends it
        try:
            chunk = await asyncio.wait_for(reader.read(100), 5)
        except ConnectionResetError:
            return got, True
        if not chunk:
            return got, False
        got += chunk
    return got, False


async def test_clock_is_never_early_and_cancel_works() -> None:
    clock = Clock()
    fired: list[tuple[int, int]] = []
    done = asyncio.get_running_loop().create_future()
    start = time.monotonic_ns() + 5_000_000
    count = 200

    def make(due: int) -> Any:
        def callback() -> None:
            fired.append((due, time.monotonic_ns()))
            if len(fired) == count - 1 and not done.done():
                done.set_result(None)

        return callback

    handles = [clock.call_at(start + i * 300_000, make(start + i * 300_000)) for i in range(count)]
    handles[50].cancel()
    await asyncio.wait_for(done, 5)
    clock.close()
    assert len(fired) == count - 1
    assert all(now >= due for due, now in fired)  # never early
    assert [due for due, _ in fired] == sorted(due for due, _ in fired)  # in order
