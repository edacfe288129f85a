"""What a revert may do, checked when it is *carried out*, not only when it is written.

A lease is data from a closed set of actions (``safety.actions``), and each action is
bounded here against facts the lease cannot change:

==================  =====================================================================
action              allowed only when
==================  =====================================================================
DeletePath          the path is inside the run directory or one of the suite's
                    ``blast_radius.paths`` (resolved, so ``..`` and symlinked parents
                    cannot lead out), and is not one of those roots itself
RemoveCgroup        the cgroup is one this run created: under a mounted cgroup hierarchy,
                    named with the run's prefix (``cwb-<hash of the run directory>``)
ThawCgroup          the path is a cgroup (under a mounted hierarchy): thawing only resumes
SignalProcess       the signal is SIGCONT (a revert only resumes a stopped process), and
                    the pid is still the process recorded: start time and command line
KillProcess         the process is a workbench helper (it carries a fault tag)
RemoveToxic,        the API URL is on loopback, or is the suite's own ``proxy_api``
SetProxyEnabled
StartProcess        the suite declared a process of that name with exactly this command,
                    working directory and environment (the copy the run stored at start)
KillTagged          always: it only kills processes that carry the tag in their environment
==================  =====================================================================

The facts come from ``run_dir/safety/policy.json``, written once by the controller when the
safety net opens, private like the leases (``host.private``). A refused action is reported
(``Outcome.ok`` false, "refused: …") and the lease is kept for a human to look at.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chaos_workbench.host.address import host_is_loopback
from chaos_workbench.host.private import UnsafePath, read_private
from chaos_workbench.host.spawn import TAG_ENV, cgroup_prefix
from chaos_workbench.safety.actions import (
    DeletePath,
    KillProcess,
    RemoveCgroup,
    RemoveToxic,
    RevertAction,
    SetProxyEnabled,
    SignalProcess,
    StartProcess,
    ThawCgroup,
)

__all__ = ["DeclaredProcess", "RevertPolicy", "load_policy", "policy_path", "refusal"]


class DeclaredProcess(BaseModel):
    """A process the suite declares, as the supervisor would start it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    command: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


class RevertPolicy(BaseModel):
    """The facts that bound a run's reverts (written once, when the safety net opens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_paths: tuple[str, ...] = ()  # the suite's blast_radius.paths
    proxy_api: str | None = None  # the suite's own Toxiproxy-compatible API, if any
    processes: tuple[DeclaredProcess, ...] = ()


def policy_path(run_dir: Path) -> Path:
    return run_dir / "safety" / "policy.json"


def load_policy(run_dir: Path) -> tuple[RevertPolicy, str | None]:
    """The run's policy, and a problem when it is missing or refused.

    Without one (a run that never opened its net, or a file someone else could have
    written), the strictest policy applies: paths only inside the run directory, no
    non-loopback API, no restart.
    """
    try:
        return RevertPolicy.model_validate_json(read_private(policy_path(run_dir))), None
    except FileNotFoundError:
        return RevertPolicy(), None
    except UnsafePath as exc:
        return RevertPolicy(), f"{exc} (the strictest bounds apply)"
    except (OSError, ValidationError) as exc:
        return RevertPolicy(), f"{policy_path(run_dir)}: unreadable: {exc}"


def refusal(action: RevertAction, run_dir: Path, policy: RevertPolicy) -> str | None:
    """Why ``action`` may not be carried out for this run, or None when it may."""
    match action:
        case DeletePath():
            return _path_refusal(Path(action.path), run_dir, policy)
        case RemoveCgroup():
            return _cgroup_refusal(Path(action.path), run_dir, own=True)
        case ThawCgroup():
            return _cgroup_refusal(Path(action.path), run_dir, own=False)
        case SignalProcess():
            return _signal_refusal(action)
        case KillProcess():
            return _helper_refusal(action.pid)
        case RemoveToxic() | SetProxyEnabled():
            return _url_refusal(action.api_url, policy)
        case StartProcess():
            return _start_refusal(action, policy)
    return None


def _resolved(path: Path) -> Path:
    """``path`` with its parent resolved (symlinks, ``..``) and its last part kept as is."""
    return Path(os.path.realpath(path.parent)) / path.name


def _path_refusal(path: Path, run_dir: Path, policy: RevertPolicy) -> str | None:
    target = _resolved(path)
    roots = [
        Path(os.path.realpath(run_dir)),
        *(Path(os.path.realpath(p)) for p in policy.allowed_paths),
    ]
    for root in roots:
        if target != root and target.is_relative_to(root):
            return None
    return f"{path} is outside the run directory and the suite's blast_radius.paths"


def _cgroup_mounts() -> list[Path]:
    mounts = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[2] in ("cgroup", "cgroup2"):
                mounts.append(Path(parts[1]))
    return mounts


def _cgroup_refusal(path: Path, run_dir: Path, *, own: bool) -> str | None:
    target = _resolved(path)
    if not any(target != m and target.is_relative_to(m) for m in _cgroup_mounts()):
        return f"{path} is not a cgroup (under no mounted cgroup hierarchy)"
    if own and not target.name.startswith(cgroup_prefix(run_dir) + "-"):
        return (
            f"{path} is not a cgroup this run created (its names start {cgroup_prefix(run_dir)}-)"
        )
    return None


def _signal_refusal(action: SignalProcess) -> str | None:
    if action.signal != signal.SIGCONT:
        name = (
            signal.Signals(action.signal).name
            if action.signal in set(signal.Signals)
            else action.signal
        )
        return f"a revert only resumes a stopped process (SIGCONT), not {name}"
    if action.cmdline:
        try:
            current = " ".join(psutil.Process(action.pid).cmdline())
        except psutil.Error:
            return None  # gone: the executor reports nothing to signal
        if current != action.cmdline:
            return f"pid {action.pid} now runs {current[:80]!r}, not the process the fault stopped"
    return None


def _helper_refusal(pid: int) -> str | None:
    try:
        if TAG_ENV in psutil.Process(pid).environ():
            return None
    except psutil.Error:
        return None  # gone: nothing to kill
    return f"pid {pid} is not a workbench helper (no {TAG_ENV} in its environment)"


def _url_refusal(url: str, policy: RevertPolicy) -> str | None:
    host = urlsplit(url).hostname or ""
    if host_is_loopback(host):
        return None
    if policy.proxy_api is not None and url.rstrip("/") == policy.proxy_api.rstrip("/"):
        return None
    return f"{url} is neither on loopback nor the suite's proxy_api"


def _start_refusal(action: StartProcess, policy: RevertPolicy) -> str | None:
    for declared in policy.processes:
        if declared.name == action.name:
            same = (declared.command, declared.cwd, declared.env) == (
                action.command,
                action.cwd,
                action.env,
            )
            return None if same else f"process {action.name!r}: not the command the suite declared"
    return f"the suite declares no process {action.name!r} the workbench starts"
