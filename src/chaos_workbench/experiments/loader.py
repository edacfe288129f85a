"""Load a suite file (YAML or JSON) into a validated, frozen :class:`Suite`.

Every mistake in the file is collected and raised at once as a :class:`SuiteError` whose
problems carry ``file:line: path: message``. Lines come from the parsed document (see
``_source``); paths from pydantic's error locations, and from the suite-level checks
(names defined twice, undefined proxies/processes, off-loopback targets), which run even
when other parts of the file are wrong so that one pass shows everything.

Exceptions::

    SuiteError        the file could not be read, parsed or validated (see ``errors``)
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, TypeAdapter, ValidationError

from chaos_workbench.chaosmesh.dispatch import kube_fault_models
from chaos_workbench.experiments._source import (
    Document,
    Loc,
    SyntaxProblem,
    expand_env,
    parse_json,
    parse_yaml,
)
from chaos_workbench.experiments.errors import Problem, SuiteError
from chaos_workbench.experiments.placeholders import CopyEnv, CopyPlaces
from chaos_workbench.experiments.references import (
    DEFER_REFERENCES,
    SuiteOutline,
    loc_to_path,
    reference_problems,
    scheduled_references,
)
from chaos_workbench.experiments.schema import (
    BlastRadius,
    FaultField,
    ScheduledFault,
    Suite,
    with_offset,
)
from chaos_workbench.experiments.sweep import raw_faults
from chaos_workbench.faults import FaultParams, Reference
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.host.address import split_host_port
from chaos_workbench.limits import MAX_SUITE_BYTES
from chaos_workbench.probes.spec import (
    CommandProbeSpec,
    NatsProbeSpec,
    PostgresProbeSpec,
    ProbeSpec,
    PrometheusProbeSpec,
    TcpProbeSpec,
    ValkeyProbeSpec,
)

__all__ = ["load_suite", "parse_suite"]

_CONTEXT = {DEFER_REFERENCES: True}
DEFAULT_COPY_DIR = Path(".cwb") / "copy"  # ${copy_dir} of a suite loaded outside a run
_FAULT_ADAPTER: TypeAdapter[FaultParams] = TypeAdapter(FaultField)
AnyProbeSpec = (
    PostgresProbeSpec
    | ValkeyProbeSpec
    | NatsProbeSpec
    | TcpProbeSpec
    | PrometheusProbeSpec
    | CommandProbeSpec
)
_PROBE_ADAPTER: TypeAdapter[AnyProbeSpec] = TypeAdapter(ProbeSpec)
# pydantic prefixes messages raised from validators; the path already says where.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def load_suite(
    path: Path, env: Mapping[str, str] | None = None, *, copy: CopyPlaces | None = None
) -> Suite:
    """Read, expand ``${VAR}`` (from ``env``, default ``os.environ``) and validate a suite.
    ``${port:NAME}``/``${copy_dir}`` are ``copy``'s (default: fresh ports, ``.cwb/copy``).

    ``.json`` files are read as JSON, anything else as YAML. Raises :class:`SuiteError`
    listing every problem with its line.
    """
    file = str(path)
    try:
        with Path(path).open("rb") as stream:  # bounded: the path may name /dev/zero or a FIFO
            raw = stream.read(MAX_SUITE_BYTES + 1)
        if len(raw) > MAX_SUITE_BYTES:
            raise SuiteError([_too_large(file)])
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SuiteError([Problem(file=file, message="not UTF-8 text")]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SuiteError([Problem(file=file, message=f"cannot read: {reason}")]) from None
    is_json = Path(path).suffix.lower() == ".json"
    return parse_suite(text, file=file, json_format=is_json, env=env, copy=copy)


def parse_suite(
    text: str,
    *,
    file: str = "<suite>",
    json_format: bool = False,
    env: Mapping[str, str] | None = None,
    copy: CopyPlaces | None = None,
) -> Suite:
    """Validate suite text as :func:`load_suite` does; ``file`` names it in problems."""
    env = CopyEnv(os.environ if env is None else env, copy or CopyPlaces(DEFAULT_COPY_DIR))
    if len(text) > MAX_SUITE_BYTES:  # characters: at least as many bytes
        raise SuiteError([_too_large(file)])
    text = text.removeprefix("\ufeff")
    try:
        doc = parse_json(text, env) if json_format else parse_yaml(text, env)
    except SyntaxProblem as exc:
        raise SuiteError([Problem(file=file, line=exc.line, message=exc.message)]) from None
    if doc.data is None and not doc.lines:
        raise SuiteError(
            [Problem(file=file, line=1, message="the file is empty: expected a suite mapping")]
        )
    problems = [
        Problem(file=file, line=issue.line, path=loc_to_path(issue.loc), message=issue.message)
        for issue in doc.issues
    ]
    problems.extend(_render_templates(doc, file, env))
    # A value whose variable was unset is reported once, not again by validation.
    unset = [issue.loc for issue in doc.issues if not issue.message.startswith("key ")]
    suite: Suite | None = None
    try:
        suite = Suite.model_validate(doc.data, context=_CONTEXT)
    except ValidationError as exc:
        problems.extend(_validation_problems(exc, doc, file, unset))
    outline = SuiteOutline.of(suite) if suite is not None else _outline_from_raw(doc.data, unset)
    problems.extend(
        Problem(file=file, line=doc.line_for(p.loc), path=loc_to_path(p.loc), message=p.message)
        for p in reference_problems(outline)
    )
    if problems:
        raise SuiteError(problems)
    assert suite is not None  # no problems means validation succeeded
    return suite.expand_sweeps()  # after the checks: their indexes are the file's


def _render_templates(doc: Document, file: str, env: Mapping[str, str]) -> list[Problem]:
    """Read each ``processes[].files[].template`` (relative to the suite file) and expand it
    like the suite itself into that entry's ``content``; its path becomes absolute.

    Problems (unreadable, too large, not UTF-8, an unset variable with the template's own
    line) are reported at the line of the ``template`` key.
    """
    base = Path(file).parent if file != "<suite>" else Path.cwd()
    problems: list[Problem] = []
    for i, process in _entries(doc.data, "processes") if isinstance(doc.data, dict) else []:
        for j, item in _entries(process, "files"):
            template = item.get("template")
            if not isinstance(template, str) or "\0" in template:
                continue  # validation reports the type
            loc: Loc = ("processes", i, "files", j, "template")

            def problem(message: str, loc: Loc = loc) -> Problem:
                line = doc.line_for(loc)
                return Problem(file=file, line=line, path=loc_to_path(loc), message=message)

            if "content" in item:
                problems.append(problem("give 'template' or 'content', not both"))
                continue
            path = (base / template).absolute()
            try:
                with path.open("rb") as stream:  # bounded like the suite file itself
                    raw = stream.read(MAX_SUITE_BYTES + 1)
                if len(raw) > MAX_SUITE_BYTES:
                    problems.append(problem(f"{path}: larger than the suite file limit"))
                    continue
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(problem(f"{path}: not UTF-8 text"))
                continue
            except OSError as exc:
                problems.append(problem(f"cannot read template {path}: {exc.strerror or exc}"))
                continue
            rendered = []
            for number, line_text in enumerate(text.splitlines(keepends=True), start=1):
                expanded, errors = expand_env(line_text, env)
                rendered.append(expanded)
                problems.extend(problem(f"{path}:{number}: {error}") for error in errors)
            item["template"] = str(path)
            item["content"] = "".join(rendered)
    return problems


def _too_large(file: str) -> Problem:
    limit_mib = MAX_SUITE_BYTES // (1024 * 1024)
    return Problem(file=file, message=f"larger than {limit_mib} MiB, the limit for a suite file")


def _validation_problems(
    exc: ValidationError, doc: Document, file: str, unset: list[Loc]
) -> list[Problem]:
    problems = []
    errors = exc.errors(include_url=False)
    # A mapping key that fails its own type (env: {"A=B": x}) is located at the key itself;
    # pydantic appends a "[key]" marker the path does not need.
    locs: list[Loc] = [tuple(error["loc"]) for error in errors]
    locs = [loc[:-1] if loc and loc[-1] == "[key]" else loc for loc in locs]
    for error, loc in zip(errors, locs, strict=True):
        if any(loc[: len(u)] == u for u in unset):
            continue
        # A list whose only item is wrong is also "too short": the item's error says it all.
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in locs
        ):
            continue
        message = str(error["msg"])
        for prefix in _PREFIXES:
            message = message.removeprefix(prefix)
        if error["type"] == "extra_forbidden":
            message = _unknown_key_message(loc, doc.data)
        problems.append(
            Problem(file=file, line=doc.line_for(loc), path=loc_to_path(loc), message=message)
        )
    return problems


def _unknown_key_message(loc: Loc, data: object) -> str:
    """``unknown key (did you mean 'latency_ms'?)``, or the allowed keys when none is close."""
    model = _model_at(loc[:-1], data)
    if model is None or not isinstance(loc[-1], str):
        return "unknown key"
    allowed = sorted(field.alias or name for name, field in model.model_fields.items())
    close = difflib.get_close_matches(loc[-1], allowed, n=1)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (expected one of: {', '.join(allowed)})"


def _model_at(loc: Loc, data: object) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc`` (faults resolved by their ``type``)."""
    annotation: Any = Suite
    node = data
    for part in (*loc, None):
        annotation = _unwrap(annotation)
        scheduled = annotation is ScheduledFault  # a faults: item: a fault mapping plus at_s
        if scheduled:
            annotation = FaultParams
        if isinstance(annotation, type) and issubclass(annotation, FaultParams):
            kind = node.get("type") if isinstance(node, dict) else None
            try:
                annotation = _fault_model(kind, data) if isinstance(kind, str) else None
            except KeyError:
                return None
            if scheduled and annotation is not None:
                annotation = with_offset(annotation)
        if part is None:
            break
        node = _child(node, part)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _field_by_key(annotation, part)
            annotation = None if field is None else field
        elif typing.get_origin(annotation) in (tuple, list, dict):
            args = typing.get_args(annotation)
            annotation = args[-1] if typing.get_origin(annotation) is dict else args[0]
        else:
            return None
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _fault_model(kind: str, data: object) -> type[BaseModel]:
    """The parameters of fault ``kind``: a Kubernetes suite's own (``chaosmesh``), or local."""
    if isinstance(data, dict) and data.get("kubernetes") is not None:
        return kube_fault_models()[kind]
    return fault_registry.params_model(kind)


def _field_by_key(model: type[BaseModel], key: str | int) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` to the type that validates a value."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _child(node: object, part: str | int) -> object:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _outline_from_raw(data: object, unset: list[Loc]) -> SuiteOutline:
    """The cross-reference inputs from a file that did not fully validate (best effort).

    Names count as defined even where their entry has other mistakes, so that one typo does
    not also report every reference to that entry as undefined; a section with a name from
    an unset variable is incomplete, so references into it are not checked at all. A
    section of the wrong shape (``proxies: 5``) contributes nothing here: validation
    reports it.
    """
    if not isinstance(data, dict):
        return SuiteOutline(allowed_hosts=None)
    incomplete = {
        {"proxies": "proxy", "processes": "process"}.get(str(loc[0]))
        for loc in unset
        if len(loc) == 3 and loc[2] == "name"
    }
    traffic = data.get("traffic")
    url = traffic.get("url") if isinstance(traffic, dict) else None
    return SuiteOutline(
        proxies=_names(data, "proxies"),
        processes=_names(data, "processes"),
        upstreams=tuple(
            (i, upstream)
            for i, item in _entries(data, "proxies")
            if (upstream := _text(item, "upstream")) is not None and _is_address(upstream)
        ),
        experiments=tuple(
            (i, _text(item, "name"), _refs(item, incomplete))
            for i, item in _entries(data, "experiments")
        ),
        traffic_url=url if isinstance(url, str) and _hostname(url) else None,
        probe_target=_probe_target(data.get("probe")),
        guardrail_targets=tuple(
            (("guardrails", i, "probe", target[0]), target[1])
            for i, item in _entries(data, "guardrails")
            if (target := _probe_target(item.get("probe"))) is not None
        ),
        readiness_targets=tuple(
            (("processes", i, "ready", "http"), host)
            for i, item in _entries(data, "processes")
            if (host := _readiness_host(item.get("ready")))
        ),
        allowed_hosts=_allowed_hosts(data.get("blast_radius")),
    )


def _entries(data: dict[str, object], section: str) -> list[tuple[int, dict[str, object]]]:
    """The mapping items of a list section, with their indexes."""
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _text(item: dict[str, object], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _names(data: dict[str, object], section: str) -> tuple[tuple[int, str], ...]:
    return tuple(
        (i, name)
        for i, item in _entries(data, section)
        if (name := _text(item, "name")) is not None
    )


def _is_address(text: str) -> bool:
    try:
        split_host_port(text)
    except ValueError:
        return False
    return True


def _refs(item: dict[str, object], incomplete: set[str | None]) -> tuple[Reference, ...]:
    """The references of the faults that validate (``fault`` or each of ``faults``)."""
    raws, compound = raw_faults(item)
    faults: list[FaultParams | None] = []
    for value in raws:
        try:
            faults.append(_FAULT_ADAPTER.validate_python(value, context=_CONTEXT))
        except ValidationError:
            faults.append(None)
    refs = scheduled_references(faults, compound)
    return tuple(r for r in refs if r.kind not in incomplete)


def _probe_target(raw: object) -> tuple[str, str] | None:
    if raw is None:
        return None
    try:
        return _PROBE_ADAPTER.validate_python(raw).target()
    except ValidationError:
        return None  # reported by the model validation itself


def _readiness_host(raw: object) -> str:
    http = raw.get("http") if isinstance(raw, dict) else None
    return _hostname(http) if isinstance(http, str) else ""


def _allowed_hosts(raw: object) -> frozenset[str] | None:
    """The allowed hosts, or None when ``blast_radius`` is itself invalid (skip host checks)."""
    try:
        return frozenset(BlastRadius.model_validate(raw or {}).hosts)
    except ValidationError:
        return None


def _hostname(url: str) -> str:
    """The URL's host, or "" when it has none or cannot be parsed (``http://[a: 1]``):
    this is the outline of a file that failed validation, so the field has its problem."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
