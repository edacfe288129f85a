"""``cwb proxy`` / ``cwb toxic`` commands: output, exit codes (2 for mistakes, 1 when the API
is unreachable), no tracebacks; ``serve`` with a config file."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
import typer
import typer.core
from proxy_api_helpers import UA, ServerProcess, spawn_server, stop_server
from typer.testing import CliRunner

from chaos_workbench.cli import app as cwb_app
from chaos_workbench.proxy.cli import proxy_app, toxic_app

runner = CliRunner()


def run(app: object, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))  # type: ignore[arg-type]
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def api_url(server_process: ServerProcess) -> str:
    httpx.post(server_process.url + "/reset", headers=UA)
    for name in httpx.get(server_process.url + "/proxies", headers=UA).json():
        httpx.delete(f"{server_process.url}/proxies/{name}", headers=UA)
    return server_process.url


def test_proxy_commands_round_trip(api_url: str) -> None:
    code, out, _ = run(proxy_app, "create", "redis", "-u", "127.0.0.1:6379", "--api", api_url)
    assert code == 0
    assert out.startswith("Created new proxy redis listening on 127.0.0.1:")
    code, out, _ = run(proxy_app, "list", "--host", api_url)  # toxiproxy-cli's spelling
    assert code == 0
    assert "redis" in out
    assert "127.0.0.1:6379" in out
    code, out, _ = run(proxy_app, "toggle", "redis", "--api", api_url)
    assert (code, out.strip()) == (0, "Proxy redis is now disabled")
    code, out, _ = run(proxy_app, "toggle", "redis", "--api", api_url)
    assert (code, out.strip()) == (0, "Proxy redis is now enabled")
    code, out, _ = run(proxy_app, "delete", "redis", "--api", api_url)
    assert (code, out.strip()) == (0, "Deleted proxy redis")
    assert httpx.get(api_url + "/proxies", headers=UA).json() == {}


def test_toxic_commands_round_trip(api_url: str) -> None:
    run(proxy_app, "create", "db", "-u", "127.0.0.1:5432", "--api", api_url)
    code, out, _ = run(
        toxic_app, "add", "db", "-t", "latency", "-a", "latency=1000", "--api", api_url
    )
    assert (code, out.strip()) == (
        0,
        "Added downstream latency toxic 'latency_downstream' on proxy 'db'",
    )
    code, out, _ = run(
        toxic_app,
        "add",
        "db",
        "-t",
        "latency",
        "--upstream",
        "-n",
        "up",
        "--toxicity",
        "0.5",
        "--api",
        api_url,
    )
    assert (code, out.strip()) == (0, "Added upstream latency toxic 'up' on proxy 'db'")
    code, out, _ = run(
        toxic_app, "update", "db", "-n", "latency_downstream", "-a", "jitter=5", "--api", api_url
    )
    assert code == 0
    toxics = {t["name"]: t for t in httpx.get(api_url + "/proxies/db/toxics", headers=UA).json()}
    assert toxics["latency_downstream"]["attributes"]["latency"] == 1000
    assert toxics["latency_downstream"]["attributes"]["jitter"] == 5
    assert toxics["up"]["toxicity"] == 0.5
    code, out, _ = run(toxic_app, "list", "db", "--api", api_url)
    assert code == 0
    assert "latency_downstream: latency downstream" in out
    code, out, _ = run(toxic_app, "remove", "db", "-n", "up", "--api", api_url)
    assert (code, out.strip()) == (0, "Removed toxic 'up' on proxy 'db'")


@pytest.mark.parametrize(
    ("app", "args", "message"),
    [
        (proxy_app, ["delete", "nope"], "proxy not found"),
        (proxy_app, ["toggle", "nope"], "proxy not found"),
        (toxic_app, ["add", "nope", "-t", "latency"], "proxy not found"),
        (toxic_app, ["add", "db", "-t", "nope"], "invalid toxic type"),
        (toxic_app, ["add", "db", "-t", "latency", "-a", "latency"], "expected key=value"),
        (toxic_app, ["add", "db", "-t", "latency", "-a", "latency=slow"], "bad request body"),
        (toxic_app, ["remove", "db", "-n", "nope"], "toxic not found"),
        (toxic_app, ["update", "db", "-n", "x"], "nothing to update"),
    ],
)
def test_mistakes_exit_2_with_one_clear_line(
    api_url: str, app: object, args: list[str], message: str
) -> None:
    httpx.post(api_url + "/proxies", json={"name": "db", "upstream": "127.0.0.1:1"}, headers=UA)
    code, _, err = run(app, *args, "--api", api_url)
    assert code == 2
    assert err.startswith("error: ")
    assert message in err


def test_unreachable_api_exits_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        code, _, err = run(proxy_app, "list", "--api", f"http://127.0.0.1:{port}")
    assert code == 1
    assert "cannot reach the proxy API" in err


def test_serve_refuses_a_bad_config_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text('[{"name": "a", "listen": "127.0.0.1:0"}, {"name": 5, "upstream": "x:1"}]')
    code, _, err = run(proxy_app, "serve", "--config", str(config), "--port", "0")
    assert code == 2
    assert f"{config}: [0].upstream: missing (required)" in err
    assert f"{config}: [1].name: expected a string, got 5" in err
    config.write_text("{not json")
    code, _, err = run(proxy_app, "serve", "--config", str(config), "--port", "0")
    assert code == 2
    assert f"{config}: line 1 column 2: invalid JSON" in err
    code, _, err = run(proxy_app, "serve", "--config", str(tmp_path / "missing.json"))
    assert code == 2
    assert "cannot read the file" in err


def test_serve_port_in_use_exits_2(server_process: ServerProcess) -> None:
    code, _, err = run(proxy_app, "serve", "--port", str(server_process.port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{server_process.port}" in err


def test_serve_with_config_and_bare_cwb_proxy(tmp_path: Path) -> None:
    config = tmp_path / "toxiproxy.json"
    entries = [
        {"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379"},
        {"name": "pg", "upstream": "127.0.0.1:5432", "enabled": False, "unknown_key": 1},
    ]
    config.write_text(json.dumps(entries))
    # No subcommand: `cwb proxy --config ...` serves, like toxiproxy-server.
    server = spawn_server(tmp_path, "--config", str(config), "--seed", "1", subcommand=None)
    try:
        proxies = httpx.get(server.url + "/proxies", headers=UA).json()
        assert set(proxies) == {"redis", "pg"}
        assert proxies["pg"]["enabled"] is False
        assert proxies["redis"]["listen"].startswith("127.0.0.1:")
    finally:
        stop_server(server.process)
    assert server.process.returncode == 0  # SIGTERM is a clean stop


def test_serve_binds_the_host_it_is_given(tmp_path: Path) -> None:
    """``--host`` is where the control API listens, and only there."""
    server = spawn_server(tmp_path, "--host", "127.0.0.2")
    try:
        assert server.host == "127.0.0.2"
        assert httpx.get(server.url + "/version", headers=UA).status_code == 200
        with socket.socket() as other:
            other.settimeout(5)
            with pytest.raises(ConnectionRefusedError):  # same port, another loopback address
                other.connect(("127.0.0.1", server.port))
    finally:
        stop_server(server.process)


@pytest.mark.parametrize("command", [None, "serve"])
def test_server_defaults_are_toxiproxys_address(command: str | None) -> None:
    """``cwb proxy`` and ``cwb proxy serve`` default to 127.0.0.1:8474 (Toxiproxy's port on
    loopback), read from the commands' own parameters: nothing binds 8474 here."""
    group = typer.main.get_command(proxy_app)
    assert isinstance(group, typer.core.TyperGroup)
    cmd = group if command is None else group.commands[command]
    defaults = {p.name: p.default for p in cmd.params}
    assert (defaults["host"], defaults["port"]) == ("127.0.0.1", 8474)
    code, out, _ = run(proxy_app, *([command] if command else []), "--help")
    assert code == 0
    assert "--host" in out
    assert "--port" in out


def test_top_level_cwb_mounts_the_proxy_and_toxic_commands(api_url: str) -> None:
    """``cwb proxy ...`` and ``cwb toxic ...`` through the installed ``cwb`` app itself."""
    httpx.post(api_url + "/proxies", json={"name": "db", "upstream": "127.0.0.1:5432"}, headers=UA)
    httpx.post(
        api_url + "/proxies/db/toxics",
        json={"type": "latency", "attributes": {"latency": 7}},
        headers=UA,
    )
    code, out, _ = run(cwb_app, "proxy", "list", "--api", api_url)
    assert code == 0
    assert "db" in out
    assert "127.0.0.1:5432" in out
    code, out, _ = run(cwb_app, "toxic", "list", "db", "--api", api_url)
    assert code == 0
    assert "latency_downstream: latency downstream toxicity=1.0" in out
    assert '{"latency":7,"jitter":0}' in out
    code, _, err = run(cwb_app, "toxic", "list", "nope", "--api", api_url)
    assert code == 2
    assert "proxy not found" in err
