"""The ground floor: what talks to the operating system and knows nothing of faults or suites.

* :mod:`.address` — ``host:port`` parsing with one set of rules (Go's, as Toxiproxy uses);
* :mod:`.cgroups` — Linux control groups, v1 and v2;
* :mod:`.spawn` — starting processes the same way from the supervisor and the watchdog,
  inside cgroups, dying with their parent, and waiting until they are ready.

Exceptions::

    HostError (WorkbenchError)      the operating system does not allow what was asked
    └── CgroupUnavailable           a cgroup controller cannot be used on this machine
"""

from __future__ import annotations

from chaos_workbench.errors import WorkbenchError

__all__ = ["HostError"]


class HostError(WorkbenchError):
    """The operating system does not allow what was asked (the message says why)."""
