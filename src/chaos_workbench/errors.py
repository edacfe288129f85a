"""The root of every error Chaos Workbench raises on purpose, and the whole tree.

Catch :class:`WorkbenchError` to handle anything the workbench refuses or cannot do, as
opposed to a bug (which is any other exception). Each class lives with the package that
raises it; this module defines only the root::

    WorkbenchError                           chaos_workbench.errors
    ├── HostError                            chaos_workbench.host: the operating system said no
    │   ├── CgroupUnavailable                    a cgroup controller cannot be used here
    │   └── UnsafePath                           a run file others could write (refused)
    ├── SuiteError                           chaos_workbench.experiments: a suite file is wrong
    ├── FaultError                           chaos_workbench.faults: a fault could not act
    │   ├── FaultRefused                         the suite does not allow the target
    │   └── FaultUnsupported                     this machine cannot inject it (inconclusive)
    ├── SupervisorError                      chaos_workbench.processes: a process would not
    │   ├── UnknownProcess                       start, stop or be found
    │   └── ProcessNotReady
    ├── ProxyClientError                     chaos_workbench.proxy: a Toxiproxy API call failed
    │   ├── ProxyApiError                        the server answered with an error status
    │   └── ProxyApiUnreachable                  no answer
    ├── DistributedLoadError                 chaos_workbench.traffic.distributed: no scheduler,
    │                                            too few workers, or a scheduler off loopback
    ├── QueryFailed                          chaos_workbench.probes.prometheus: a probe's
    │                                            query failed its threshold (one measurement)
    ├── CommandFailed                        chaos_workbench.probes.command: a probe's
    │                                            command exited non-zero (one measurement)
    ├── SafetyError                          chaos_workbench.safety: no watchdog, no faults
    ├── KubeError                            chaos_workbench.kube: a Kubernetes API call or
    │                                            a wait for Chaos Mesh failed
    ├── ActivityFailed                       chaos_workbench.chaostoolkit: an experiment's
    │                                            activity failed (recorded in its journal)
    ├── RunError                             chaos_workbench.engine: a run did not complete
    │   ├── RunAborted                           it could not start (nothing was injected)
    │   │   └── WarmupFailed                     no steady state within the warm-up
    │   └── RunInterrupted                       SIGINT/SIGTERM stopped it after reverting
    └── StoreError                           chaos_workbench.store: the history failed
        ├── RunNotFound
        └── AmbiguousRunId

The proxy server's own API errors (``chaos_workbench.proxy.errors.ApiError``) are not in
this tree: they are answers the server sends to its clients, never raised to a user.
"""

from __future__ import annotations

__all__ = ["WorkbenchError"]


class WorkbenchError(Exception):
    """Something the workbench refused or could not do; the message says what and why."""
