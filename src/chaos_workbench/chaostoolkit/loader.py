"""Read a Chaos Toolkit experiment (JSON or YAML) and check all of it before anything runs.

Every mistake is reported at once as ``file:line: path: message`` (a
:class:`~chaos_workbench.experiments.errors.SuiteError`): the shape (pydantic), the
configuration and secrets (an environment variable that is not set, a value that is not
the ``env_var_type`` it says: where Chaos Toolkit crashes with ``int("")``), the
hypothesis probes' tolerances (regex, JSON path, range), ``ref`` to activities that do
not exist, ``process`` paths that cannot be found, and ``python`` modules that are not
installed or do not have the function, or whose arguments do not fit it.

``${name}`` is Chaos Toolkit's substitution from the configuration and secrets, done when
an activity runs; it is kept as written here (our suites' ``${VAR}`` is not applied).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import JsonValue, TypeAdapter, ValidationError

from chaos_workbench.chaostoolkit.extension import CwbExtension, check_cwb_extension
from chaos_workbench.chaostoolkit.model import (
    Activity,
    ActivityOrRef,
    Experiment,
    JsonPathTolerance,
    ProbeTolerance,
    ProcessProvider,
    PythonProvider,
    RegexTolerance,
)
from chaos_workbench.chaostoolkit.providers import find_function
from chaos_workbench.chaostoolkit.tolerance import check_jsonpath
from chaos_workbench.chaostoolkit.toxi_functions import PREFIX, native_function
from chaos_workbench.chaostoolkit.values import load_configuration, load_secrets
from chaos_workbench.experiments.errors import Problem, SuiteError
from chaos_workbench.experiments.references import loc_to_path
from chaos_workbench.experiments.source import Document, Loc, SyntaxProblem, parse_json, parse_yaml
from chaos_workbench.limits import MAX_SUITE_BYTES

__all__ = ["LoadedExperiment", "is_chaostoolkit_experiment", "load_experiment"]

_OUR_SUITE_KEYS = ("experiments", "traffic")
Add = Callable[[Loc, str], None]
_UNSUPPORTED = {
    "controls": "controls are not supported (they hook Python code around every step); "
    "remove them, or run this experiment with `chaos run`",
}


@dataclass(frozen=True)
class LoadedExperiment:
    """A valid experiment, its text as data (for the journal) and its resolved values."""

    file: str
    experiment: Experiment
    raw: dict[str, JsonValue]
    configuration: dict[str, JsonValue]
    secrets: dict[str, dict[str, JsonValue]]
    functions: Mapping[tuple[str, str], Callable[..., Any]] = field(default_factory=dict)
    cwb: CwbExtension | None = None  # the cwb extension: what to measure while it runs

    def activity_named(self, name: str) -> Activity | None:
        for _, activity in _activities(self.experiment):
            if isinstance(activity, Activity) and activity.name == name:
                return activity
        return None


class _KeepReferences(Mapping[str, str]):
    """An "environment" that gives ``${name}`` back as written: substitution is later."""

    def __getitem__(self, key: str) -> str:
        return "${" + key + "}"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _read(path: Path) -> tuple[str, Document]:
    file = str(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_SUITE_BYTES + 1)
        if len(raw) > MAX_SUITE_BYTES:
            raise SuiteError(
                [Problem(file=file, message=f"larger than {MAX_SUITE_BYTES // 1048576} MiB")]
            )
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise SuiteError([Problem(file=file, message="not UTF-8 text")]) from None
    except OSError as exc:
        raise SuiteError([Problem(file=file, message=f"cannot read: {exc.strerror}")]) from None
    try:
        if path.suffix.lower() == ".json":
            return file, parse_json(text, _KeepReferences())
        return file, parse_yaml(text, _KeepReferences())
    except SyntaxProblem as exc:
        raise SuiteError([Problem(file=file, line=exc.line, message=exc.message)]) from None


def is_chaostoolkit_experiment(path: Path) -> bool:
    """Whether ``path`` is a Chaos Toolkit experiment rather than one of our suites: a
    mapping with ``method`` and a ``title`` or ``steady-state-hypothesis``, and neither
    ``experiments`` nor ``traffic``. A file that cannot be read or parsed is not one."""
    try:
        _, doc = _read(Path(path))
    except SuiteError:
        return False
    data = doc.data
    return (
        isinstance(data, dict)
        and "method" in data
        and ("title" in data or "steady-state-hypothesis" in data)
        and not any(key in data for key in _OUR_SUITE_KEYS)
    )


def load_experiment(path: Path, env: Mapping[str, str] | None = None) -> LoadedExperiment:
    """Read and check ``path``; raises :class:`SuiteError` listing every problem."""
    env = os.environ if env is None else env
    file, doc = _read(Path(path))
    problems: list[Problem] = []

    def add(loc: Loc, message: str) -> None:
        problems.append(
            Problem(file=file, line=doc.line_for(loc), path=loc_to_path(loc), message=message)
        )

    for issue in doc.issues:
        add(issue.loc, issue.message)
    data = doc.data
    if not isinstance(data, dict):
        raise SuiteError([Problem(file=file, line=1, message="expected an experiment mapping")])
    for key, why in _UNSUPPORTED.items():
        if data.get(key):
            add((key,), why)
    experiment: Experiment | None = None
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = _without_tags(tuple(error["loc"]))
            add(loc, str(error["msg"]).removeprefix("Value error, "))
    configuration, secrets, functions = _check_parts(data, env, add)
    cwb = check_cwb_extension(data, configuration, secrets, add)
    if problems:
        raise SuiteError(problems)
    assert experiment is not None
    return LoadedExperiment(file, experiment, dict(data), configuration, secrets, functions, cwb)


_TAGS_AFTER: dict[str, tuple[str, ...]] = {
    "tolerance": ("bool", "int", "str", "list", "probe", "regex", "jsonpath", "range", "unknown"),
    "provider": ("http", "process", "python"),
}


def _without_tags(loc: tuple[str | int, ...]) -> Loc:
    """pydantic's location minus the union tags it inserts (``method.0.activity.name``)."""
    kept: list[str | int] = []
    for part in loc:
        previous = kept[-1] if kept else None
        if isinstance(previous, int) and part in ("ref", "activity"):
            continue
        if isinstance(previous, str) and part in _TAGS_AFTER.get(previous, ()):
            continue
        kept.append(part)
    return tuple(kept)


_ACTIVITY: TypeAdapter[ActivityOrRef] = TypeAdapter(ActivityOrRef)


def _check_parts(
    data: dict[str, Any], env: Mapping[str, str], add: Add
) -> tuple[
    dict[str, JsonValue],
    dict[str, dict[str, JsonValue]],
    dict[tuple[str, str], Callable[..., Any]],
]:
    """Check the values and each activity on their own, even when other parts are wrong,
    so that one pass shows every problem."""
    configuration: dict[str, JsonValue] = {}
    secrets: dict[str, dict[str, JsonValue]] = {}
    raw_config = data.get("configuration")
    if isinstance(raw_config, dict):
        configuration, config_problems = load_configuration(raw_config, env)
        for loc, message in config_problems:
            add(("configuration", *loc), message)
    raw_secrets = data.get("secrets")
    if isinstance(raw_secrets, dict) and all(isinstance(v, dict) for v in raw_secrets.values()):
        secrets, secret_problems = load_secrets(raw_secrets, env)
        for loc, message in secret_problems:
            add(("secrets", *loc), message)
    items = list(_raw_activities(data))
    names = {
        item["name"]
        for _, item in items
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    functions: dict[tuple[str, str], Callable[..., Any]] = {}
    for loc, item in items:
        try:
            activity = _ACTIVITY.validate_python(item)
        except ValidationError:
            continue  # the whole experiment's validation reports it
        _check_activity(loc, activity, names, functions, add)
    return configuration, secrets, functions


def _raw_activities(data: dict[str, Any]) -> Iterator[tuple[Loc, object]]:
    hypothesis = data.get("steady-state-hypothesis")
    if isinstance(hypothesis, dict) and isinstance(hypothesis.get("probes"), list):
        for index, probe in enumerate(hypothesis["probes"]):
            yield ("steady-state-hypothesis", "probes", index), probe
    for key in ("method", "rollbacks"):
        if isinstance(data.get(key), list):
            for index, activity in enumerate(data[key]):
                yield (key, index), activity


def _activities(experiment: Experiment) -> Iterator[tuple[Loc, ActivityOrRef]]:
    hypothesis = experiment.steady_state_hypothesis
    if hypothesis is not None:
        for index, probe in enumerate(hypothesis.probes):
            yield ("steady-state-hypothesis", "probes", index), probe
    for index, activity in enumerate(experiment.method):
        yield ("method", index), activity
    for index, activity in enumerate(experiment.rollbacks):
        yield ("rollbacks", index), activity


def _check_activity(
    loc: Loc,
    activity: ActivityOrRef,
    names: set[str],
    functions: dict[tuple[str, str], Callable[..., Any]],
    add: Add,
) -> None:
    if not isinstance(activity, Activity):
        if activity.ref not in names:
            add((*loc, "ref"), f"no activity is named {activity.ref!r} in this experiment")
        return
    if loc[0] == "steady-state-hypothesis" and activity.tolerance is None:
        add(loc, "a probe of the steady-state hypothesis needs a tolerance")
    _check_provider(loc, activity.name, activity.provider, functions, add)
    tolerance = activity.tolerance
    if isinstance(tolerance, RegexTolerance):
        try:
            re.compile(tolerance.pattern)
        except re.error as exc:
            add((*loc, "tolerance", "pattern"), f"invalid regular expression: {exc}")
    elif isinstance(tolerance, JsonPathTolerance):
        why = check_jsonpath(tolerance.path)
        if why is not None:
            add((*loc, "tolerance", "path"), why)
    elif isinstance(tolerance, ProbeTolerance):
        _check_provider((*loc, "tolerance"), tolerance.name, tolerance.provider, functions, add)


def _check_provider(
    loc: Loc,
    name: str,
    provider: object,
    functions: dict[tuple[str, str], Callable[..., Any]],
    add: Add,
) -> None:
    where = (*loc, "provider")
    if isinstance(provider, ProcessProvider):
        if "$" not in provider.path and shutil.which(os.path.expanduser(provider.path)) is None:
            add((*where, "path"), f"{provider.path!r} cannot be found (activity {name!r})")
    elif isinstance(provider, PythonProvider):
        _check_python(where, name, provider, functions, add, in_tolerance=loc[-1] == "tolerance")


def _check_python(
    where: Loc,
    name: str,
    provider: PythonProvider,
    functions: dict[tuple[str, str], Callable[..., Any]],
    add: Add,
    *,
    in_tolerance: bool,
) -> None:
    function: Callable[..., Any]
    if provider.module.startswith(PREFIX):
        native = native_function(provider.module, provider.func)
        if isinstance(native, str):
            add((*where, "module" if "module" in native else "func"), native)
            return
        function = native
    else:
        try:
            function = find_function(provider.module, provider.func)
        except ImportError as exc:
            add(
                (*where, "module"),
                f"Python module {provider.module!r} cannot be imported (activity {name!r}): "
                f"{exc}; is it installed in this environment?",
            )
            return
        except AttributeError:
            add(
                (*where, "func"),
                f"module {provider.module!r} has no function {provider.func!r} (activity {name!r})",
            )
            return
        except Exception as exc:  # importing ran the module's code, which raised
            add(
                (*where, "module"),
                f"importing {provider.module!r} failed: {type(exc).__name__}: {exc}",
            )
            return
        functions[(provider.module, provider.func)] = function
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    arguments: dict[str, Any] = dict(provider.arguments)
    for injected in ("configuration", "secrets") + (("value",) if in_tolerance else ()):
        if injected in signature.parameters:
            arguments.setdefault(injected, None)
    try:
        signature.bind(**arguments)
    except TypeError as exc:
        add((*where, "arguments"), f"the arguments do not fit {provider.func}(): {exc}")
