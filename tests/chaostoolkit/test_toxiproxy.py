"""chaostoxi actions run natively against our real proxy server (embedded or configured)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from ctk_support import EXPERIMENTS, Service, run

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
