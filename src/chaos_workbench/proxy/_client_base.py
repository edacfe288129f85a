"""What the Toxiproxy API client and the child-process launcher share.

:mod:`chaos_workbench.proxy.client` (the client) and :mod:`chaos_workbench.proxy.server_process`
(``start_proxy_server``) both raise these exceptions and send this User-Agent; they live
here so neither module imports the other. Import them from ``chaos_workbench.proxy.client``.

Exceptions::

    ProxyClientError (WorkbenchError)  the control API could not do what was asked
    ├── ProxyApiError           the API answered with an error status (``status``, ``message``)
    └── ProxyApiUnreachable     no answer: connection refused, reset or timed out
"""

from __future__ import annotations

from chaos_workbench._version import __version__
from chaos_workbench.errors import WorkbenchError

__all__ = ["USER_AGENT", "ProxyApiError", "ProxyApiUnreachable", "ProxyClientError"]

USER_AGENT = f"chaos-workbench/{__version__}"  # never "Mozilla/...": Toxiproxy answers 403


class ProxyClientError(WorkbenchError):
    """The control API could not do what was asked."""


class ProxyApiError(ProxyClientError):
    """The API answered with an error status; ``message`` is the server's ``error`` text."""

    def __init__(self, status: int, message: str, *, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status
        self.message = message


class ProxyApiUnreachable(ProxyClientError):
    """The API did not answer (connection refused, reset, or timed out)."""
