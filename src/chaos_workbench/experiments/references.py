"""Suite-level checks that span sections: names defined once, references that resolve,
targets on loopback unless allowed. Each problem carries its own path, so the loader can
point at the line.

They run on a :class:`SuiteOutline` (only what the checks need) rather than a ``Suite``, so
the loader can run them on a file whose other parts are invalid and report everything at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chaos_workbench.faults.base import FaultParams, Reference
from chaos_workbench.host.address import host_is_loopback, split_host_port

if TYPE_CHECKING:
    from chaos_workbench.experiments.schema import Suite

__all__ = [
    "DEFER_REFERENCES",
    "Loc",
    "ReferenceProblem",
    "SuiteOutline",
    "loc_to_path",
    "reference_problems",
    "scheduled_references",
]


DEFER_REFERENCES = "defer_reference_checks"
"""Validation-context key: skip the suite-level cross-reference checks (the loader runs them)."""

Loc = tuple[str | int, ...]


def loc_to_path(loc: Loc) -> str:
    """``("experiments", 1, "fault", "latency_ms")`` → ``experiments[1].fault.latency_ms``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class ReferenceProblem:
    """One suite-level mistake (a name defined twice, an undefined or off-loopback target)."""

    loc: Loc
    message: str


@dataclass(frozen=True)
class SuiteOutline:
    """What the cross-reference checks need, with each item's index in its list.

    Built from a valid :class:`Suite`, or by the loader from whatever parts of an invalid
    file did validate, so that these checks report alongside the other mistakes.
    ``allowed_hosts`` is None when ``blast_radius`` itself is invalid (skip the host checks).
    """

    proxies: tuple[tuple[int, str], ...] = ()
    processes: tuple[tuple[int, str], ...] = ()
    upstreams: tuple[tuple[int, str], ...] = ()
    experiments: tuple[tuple[int, str | None, tuple[Reference, ...]], ...] = ()
    traffic_url: str | None = None
    probe_target: tuple[str, str] | None = None  # (field, host)
    guardrail_targets: tuple[tuple[Loc, str], ...] = ()
    readiness_targets: tuple[tuple[Loc, str], ...] = ()  # hosts of `ready.http` URLs
    allowed_hosts: frozenset[str] | None = frozenset()

    @classmethod
    def of(cls, suite: Suite) -> SuiteOutline:
        return cls(
            proxies=tuple((i, p.name) for i, p in enumerate(suite.proxies)),
            processes=tuple((i, p.name) for i, p in enumerate(suite.processes)),
            upstreams=tuple((i, p.upstream) for i, p in enumerate(suite.proxies)),
            experiments=tuple(
                (i, e.name, scheduled_references([s.fault for s in e.schedule], e.fault is None))
                for i, e in enumerate(suite.experiments)
            ),
            traffic_url=suite.traffic.url if suite.traffic is not None else None,
            probe_target=suite.probe.target() if suite.probe is not None else None,
            guardrail_targets=tuple(
                (("guardrails", i, "probe", g.probe.target()[0]), g.probe.target()[1])
                for i, g in enumerate(suite.guardrails)
                if g.probe is not None
            ),
            readiness_targets=tuple(
                (("processes", i, "ready", "http"), urlsplit(p.ready.http).hostname or "")
                for i, p in enumerate(suite.processes)
                if p.ready.http is not None
            ),
            allowed_hosts=frozenset(suite.blast_radius.hosts),
        )


def scheduled_references(
    faults: Sequence[FaultParams | None], compound: bool
) -> tuple[Reference, ...]:
    """The references of an experiment's faults, their fields under ``fault.`` or, for a
    compound experiment, ``faults.N.`` (None: a fault that did not validate)."""
    return tuple(
        ref.model_copy(update={"field": f"{f'faults.{n}' if compound else 'fault'}.{ref.field}"})
        for n, params in enumerate(faults)
        if params is not None
        for ref in params.references()
    )


def reference_problems(outline: SuiteOutline) -> list[ReferenceProblem]:
    """Names defined twice, references to undefined proxies/processes, off-loopback targets."""
    problems: list[ReferenceProblem | None] = []
    names = {
        "proxy": {name for _, name in outline.proxies},
        "process": {name for _, name in outline.processes},
    }
    for section, items in (("proxies", outline.proxies), ("processes", outline.processes)):
        seen: set[str] = set()
        for index, name in items:
            if name in seen:
                problems.append(
                    ReferenceProblem((section, index, "name"), f"{name!r} is defined twice")
                )
            seen.add(name)
    seen_experiments: set[str] = set()
    for index, exp_name, refs in outline.experiments:
        if exp_name is not None:
            if exp_name in seen_experiments:
                problems.append(
                    ReferenceProblem(("experiments", index, "name"), f"{exp_name!r} is used twice")
                )
            seen_experiments.add(exp_name)
        problems.extend(_reference_problem(outline, names, index, ref) for ref in refs)
    if outline.allowed_hosts is not None:
        targets: list[tuple[Loc, str]] = []
        if outline.traffic_url is not None:
            targets.append((("traffic", "url"), urlsplit(outline.traffic_url).hostname or ""))
        if outline.probe_target is not None:
            targets.append((("probe", outline.probe_target[0]), outline.probe_target[1]))
        targets.extend(outline.guardrail_targets)
        targets.extend(outline.readiness_targets)
        for index, upstream in outline.upstreams:
            targets.append((("proxies", index, "upstream"), split_host_port(upstream)[0]))
        for loc, host in targets:
            if not host_is_loopback(host) and host not in outline.allowed_hosts:
                problems.append(
                    ReferenceProblem(
                        loc,
                        f"{host!r} is not on loopback; list it under blast_radius.hosts "
                        "to allow it",
                    )
                )
    return [p for p in problems if p is not None]


def _reference_problem(
    outline: SuiteOutline, names: dict[str, set[str]], index: int, ref: Reference
) -> ReferenceProblem | None:
    """What is wrong with one reference of experiment ``index``'s fault, if anything."""
    loc: Loc = ("experiments", index, *ref.loc)  # ref.field starts "fault." or "faults.N."
    if ref.kind == "host":  # a host the fault contacts (a selector's URL)
        allowed = outline.allowed_hosts
        if allowed is None or host_is_loopback(ref.name) or ref.name in allowed:
            return None
        return ReferenceProblem(
            loc, f"{ref.name!r} is not on loopback; list it under blast_radius.hosts to allow it"
        )
    if ref.name in names[ref.kind]:
        return None
    defined = ", ".join(sorted(names[ref.kind])) or "none"
    return ReferenceProblem(loc, f"{ref.kind} {ref.name!r} is not defined (defined: {defined})")
