"""The house rules the import-linter contract cannot say: private modules stay private, the
exception tree has one root, moved specs keep their old import path, and the data models
of the safety net load without the rest of the product."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import chaos_workbench
from chaos_workbench import WorkbenchError

SRC = Path(chaos_workbench.__file__).parent


def _package_of(module: str) -> str:
    """``chaos_workbench.faults.latency`` → ``faults``; a top-level module is its own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
    return found


def _private_modules() -> set[str]:
    names = set()
    for info in pkgutil.walk_packages([str(SRC)], prefix="chaos_workbench."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.add(info.name)
    return names


def test_no_module_imports_a_private_module_of_another_package() -> None:
    private = _private_modules() - {"chaos_workbench._version"}  # the version is for all
    offences = []
    for path in SRC.rglob("*.py"):
        module = ".".join(("chaos_workbench", *path.relative_to(SRC).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        for line, imported in _imports(path):
            target = next(
                (p for p in private if imported == p or imported.startswith(p + ".")), None
            )
            if target is None:
                continue
            # A private module is private to the package that contains it.
            owner = target.rsplit(".", 1)[0]
            if not (module == owner or module.startswith(owner + ".")):
                offences.append(f"{path.relative_to(SRC)}:{line}: imports {target}")
    assert not offences, "\n".join(offences)


def test_the_check_above_sees_a_private_import_when_there_is_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from chaos_workbench.traffic._pool import DriverPool\n")
    assert (1, "chaos_workbench.traffic._pool") in _imports(bad)
    assert "chaos_workbench.traffic._pool" in _private_modules()


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages([str(SRC)], prefix="chaos_workbench."):
        if info.name.endswith("__main__") or ".demo." in info.name + ".":
            continue  # the demo's services are a system under test, not the product
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


# Not raised to users: the proxy server's HTTP answers (sent to its clients), the source
# reader's and the CLI's internal signals (each turned into a SuiteError or an exit 2 at
# once), the window feed's end-of-stream signal.
_NOT_USER_ERRORS = {
    "chaos_workbench.proxy.errors.ApiError",
    "chaos_workbench.proxy.config.ConfigError",
    "chaos_workbench.experiments._source.SyntaxProblem",
    "chaos_workbench.engine.feed.FeedClosed",
    "chaos_workbench.traffic.cli.UsageProblem",
}


def test_every_error_the_product_raises_is_a_workbench_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 15  # the walk found the tree, not an empty list
    stray = [
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if not issubclass(c, WorkbenchError)
        and not any(
            f"{base.__module__}.{base.__qualname__}" in _NOT_USER_ERRORS for base in c.__mro__
        )
    ]
    assert not stray, f"not under WorkbenchError: {stray}"


def test_the_tree_in_the_errors_docstring_names_every_workbench_error() -> None:
    from chaos_workbench import errors

    doc = errors.__doc__ or ""
    names = {c.__name__ for c in _exception_classes() if issubclass(c, WorkbenchError)}
    missing = sorted(n for n in names if n not in doc)
    assert not missing, f"drawn nowhere in chaos_workbench/errors.py: {missing}"


def test_host_errors_are_not_fault_errors() -> None:
    from chaos_workbench.faults import FaultError
    from chaos_workbench.host.cgroups import CgroupUnavailable
    from chaos_workbench.processes import SupervisorError

    assert not issubclass(CgroupUnavailable, FaultError)
    assert not issubclass(SupervisorError, FaultError)
    assert issubclass(CgroupUnavailable, WorkbenchError)


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("RequestSpec", "chaos_workbench.traffic.spec"),
        ("TrafficSpec", "chaos_workbench.traffic.spec"),
        ("StageSpec", "chaos_workbench.traffic.spec"),
        ("ProcessSpec", "chaos_workbench.processes.spec"),
        ("ReadinessSpec", "chaos_workbench.processes.spec"),
        ("Slo", "chaos_workbench.analysis.spec"),
        ("ImpactThresholds", "chaos_workbench.analysis.spec"),
        ("Expectations", "chaos_workbench.analysis.spec"),
    ],
)
def test_moved_specs_are_still_importable_from_the_schema(name: str, owner: str) -> None:
    from chaos_workbench.experiments import schema

    assert getattr(schema, name) is getattr(importlib.import_module(owner), name)
    assert name in schema.__all__


def _project_modules_loaded_by(statement: str) -> list[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('chaos_workbench'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()


def test_the_safety_net_data_models_load_few_project_modules() -> None:
    loaded = _project_modules_loaded_by("import chaos_workbench.safety.actions")
    assert len(loaded) <= 15, loaded
    assert not any(
        m.startswith(("chaos_workbench.faults", "chaos_workbench.engine")) for m in loaded
    )


def test_the_host_floor_knows_nothing_of_faults_or_suites() -> None:
    loaded = _project_modules_loaded_by(
        "import chaos_workbench.host.cgroups, chaos_workbench.host.spawn, chaos_workbench.host.address"
    )
    assert {m.split(".")[1] for m in loaded if "." in m} <= {"host", "errors", "model", "_version"}


def test_the_cli_loads_neither_the_engine_nor_scipy_until_a_command_needs_them() -> None:
    """`cwb validate` must answer a hostile file in well under a second, interpreter start
    included: scipy.stats alone takes ~0.7 s to import, the engine pulls it in."""
    code = (
        "import sys, chaos_workbench.cli, chaos_workbench.engine.errors; "
        "print(' '.join(m for m in sys.modules if m.startswith(('scipy', 'chaos_workbench.engine'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(result.stdout.split())
    assert not any(m.startswith("scipy") for m in loaded), sorted(loaded)
    assert loaded == {"chaos_workbench.engine", "chaos_workbench.engine.errors"}
