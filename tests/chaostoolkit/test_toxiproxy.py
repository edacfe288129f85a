"""chaostoxi actions run natively against our real proxy server (embedded or configured)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from ctk_support import EXPERIMENTS, Service, run, write

from chaos_workbench.proxy.client import ToxiproxyClient
from chaos_workbench.proxy.server_process import start_proxy_server


def test_embedded_proxy_latency_and_the_faults_left_are_named(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The extension is not needed: importing any of it fails during this test.
    for name in [m for m in sys.modules if m == "chaostoxi" or m.startswith("chaostoxi.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "chaostoxi", None)
    env = {"SERVICE_PORT": str(service.port), "PATH": "/usr/bin:/bin"}
    result = run(
        EXPERIMENTS / "toxiproxy_embedded.yaml", tmp_path, env, fail_on_method_tolerance=True
    )
    # Both method tolerances were checked: fast before the toxic, slow (≥ 380 ms) after it.
    assert result.code == 0, result.out
    entries = result.journal["run"]
    assert [e["tolerance_met"] for e in entries if e["activity"]["type"] == "probe"] == [True, True]
    assert entries[0]["output"] is True
    assert "our embedded proxy server" in result.out
    assert (
        "Fault left in place, no rollback removed it: the latency toxic 'slow-svc' on proxy 'svc'"
        in result.out
    )
    assert "Fault left in place, no rollback removed it: proxy 'svc' disabled" in result.out


async def test_configured_api_rollbacks_remove_the_faults(service: Service, tmp_path: Path) -> None:
    server = await start_proxy_server(workdir=tmp_path / "proxy")
    try:
        port = server.api_url.rsplit(":", 1)[1]
        env = {"SERVICE_PORT": str(service.port), "TOXIPROXY_PORT": port, "PATH": "/usr/bin:/bin"}
        result = await asyncio.to_thread(
            run,
            EXPERIMENTS / "toxiproxy_configured.json",
            tmp_path,
            env,
            fail_on_method_tolerance=True,
        )
        assert result.code == 0, result.out
        assert result.journal["run"][2]["tolerance_met"] is True  # the toxic was there
        assert [e["status"] for e in result.journal["rollbacks"]] == ["succeeded", "succeeded"]
        assert "Fault left in place" not in result.out
        assert "embedded" not in result.out
        async with ToxiproxyClient(server.api_url) as client:
            proxy = await client.proxy("orders")
        assert proxy.toxics == ()
        assert proxy.enabled is True
    finally:
        await server.aclose()


def test_an_unknown_chaostoxi_function_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "title: t\ndescription: d\nmethod:\n- type: action\n  name: x\n  provider:\n"
        "    type: python\n    module: chaostoxi.toxic.actions\n    func: create_jitter_toxic\n"
    )
    result = run(path, tmp_path, {})
    assert result.code == 2
    assert result.err.startswith(
        f"{path}:9: method[0].provider.func: chaostoxi.toxic.actions has no function 'create_jitter_toxic'"
    )


@pytest.mark.parametrize("module", ["chaostoxi.nothing", "chaostoxi.proxy"])
def test_an_unknown_chaostoxi_module_is_a_validation_error(module: str, tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "title: t\ndescription: d\nmethod:\n- type: action\n  name: x\n  provider:\n"
        f"    type: python\n    module: {module}\n    func: reset\n"
    )
    result = run(path, tmp_path, {})
    assert result.code == 2
    assert f":8: method[0].provider.module: unknown chaostoxi module '{module}'" in result.err


def _leaving_faults(port: str, service_port: int, *, hold_s: float = 0.0) -> dict[str, Any]:
    """An experiment on a configured API whose method leaves a toxic and a disabled proxy
    (no rollbacks), then, with ``hold_s``, waits in a ``sleep`` process."""
    method: list[dict[str, Any]] = [
        {
            "type": "action",
            "name": "create",
            "provider": {
                "type": "python",
                "module": "chaostoxi.proxy.actions",
                "func": "create_proxy",
                "arguments": {
                    "proxy_name": "orders",
                    "upstream_host": "127.0.0.1",
                    "upstream_port": service_port,
                    "listen_host": "127.0.0.1",
                },
            },
        },
        {
            "type": "action",
            "name": "slow",
            "provider": {
                "type": "python",
                "module": "chaostoxi.toxic.actions",
                "func": "create_latency_toxic",
                "arguments": {"for_proxy": "orders", "toxic_name": "slow", "latency": 300},
            },
        },
        {
            "type": "action",
            "name": "off",
            "provider": {
                "type": "python",
                "module": "chaostoxi.proxy.actions",
                "func": "disable_proxy",
                "arguments": {"proxy_name": "orders"},
            },
        },
    ]
    if hold_s:
        method.append(
            {
                "type": "action",
                "name": "hold",
                "provider": {"type": "process", "path": "sleep", "arguments": str(hold_s)},
            }
        )
    return {
        "title": "faults left on a configured API",
        "description": "no rollback removes them",
        "configuration": {"toxiproxy_url": f"http://127.0.0.1:{port}"},
        "method": method,
    }


async def test_faults_no_rollback_removed_on_a_configured_api_are_removed_by_the_safety_net(
    service: Service, tmp_path: Path
) -> None:
    server = await start_proxy_server(workdir=tmp_path / "proxy")
    try:
        port = server.api_url.rsplit(":", 1)[1]
        path = write(tmp_path, "e.json", _leaving_faults(port, service.port))
        result = await asyncio.to_thread(run, path, tmp_path, {"PATH": "/usr/bin:/bin"})
        assert result.code == 0, result.out
        assert "Fault left in place, no rollback removed it: the latency toxic 'slow'" in result.out
        assert "removed now by the safety net" in result.out
        async with ToxiproxyClient(server.api_url) as client:
            proxy = await client.proxy("orders")
        assert proxy.toxics == ()
        assert proxy.enabled is True
        # The leases were in a run directory beside the journal; its journal says who reverted.
        (run_dir,) = (tmp_path / ".cwb" / "runs").iterdir()
        assert not list((run_dir / "leases").iterdir())
        journal = (run_dir / "journal.jsonl").read_text()
        assert journal.count('"source": "controller"') >= 2, journal
    finally:
        await server.aclose()


@pytest.mark.slow
async def test_a_killed_run_on_a_configured_api_leaves_no_fault(
    service: Service, tmp_path: Path
) -> None:
    """SIGKILL to a real `cwb run` in the middle of its method: the watchdog removes the
    toxic and re-enables the proxy within its deadline (5 s without a heartbeat)."""
    server = await start_proxy_server(workdir=tmp_path / "proxy")
    try:
        port = server.api_url.rsplit(":", 1)[1]
        path = write(tmp_path, "e.json", _leaving_faults(port, service.port, hold_s=60))
        cwb = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "chaos_workbench.cli", "run", str(path)),
            *("--journal-path", str(tmp_path / "journal.json")),
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with ToxiproxyClient(server.api_url) as client:
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # the method reached its `sleep`
                    proxies = await client.proxies()
                    if "orders" in proxies and not proxies["orders"].enabled:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail("the method did not disable the proxy within 60 s")
                assert [t.name for t in proxies["orders"].toxics] == ["slow"]
            finally:
                # The method's `sleep` (orphaned by the kill); not the watchdog, a child too.
                children = [
                    c
                    for c in psutil.Process(cwb.pid).children(recursive=True)
                    if c.name() == "sleep"
                ]
                cwb.kill()
                await asyncio.wait_for(cwb.wait(), 10)
                for child in children:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < 20:
                proxy = await client.proxy("orders")
                if proxy.enabled and not proxy.toxics:
                    break
                await asyncio.sleep(0.1)
            reverted_s = time.monotonic() - killed_at
        assert proxy.enabled, "the watchdog did not re-enable the proxy in 20 s"
        assert proxy.toxics == (), "the watchdog did not remove the toxic in 20 s"
        # Deadline 5 s without a heartbeat, checked every half second or so, plus slack.
        assert reverted_s < 12, reverted_s
    finally:
        await server.aclose()
