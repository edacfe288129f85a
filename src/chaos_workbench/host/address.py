"""``host:port`` with one set of rules, everywhere: suite files, the proxy API, the CLI.

The rules are Go's ``net.SplitHostPort`` (what Toxiproxy uses, so both accept the same
addresses): an IPv6 host is written in brackets (``[::1]:8474``); the port is a decimal
number from 0 to 65535; the host may be empty (``:8474``, every interface) only where the
caller says so. A bare ``::1:8474`` is refused, as Go refuses it: it is ambiguous.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

__all__ = ["HostPort", "host_is_loopback", "join_host_port", "split_host_port"]


class HostPort(NamedTuple):
    """A parsed address: ``host`` without brackets, ``port`` as an integer."""

    host: str
    port: int


def split_host_port(address: str, *, allow_empty_host: bool = False) -> HostPort:
    """``"127.0.0.1:8080"``, ``"[::1]:8080"``, ``"localhost:80"`` → (host, port).

    Raises ``ValueError`` whose message names the address and what was expected.
    """
    problem = f"expected host:port, got {address!r}"
    if address.startswith("["):
        end = address.find("]")
        if end < 0 or address[end + 1 : end + 2] != ":":
            raise ValueError(problem)
        host, port_text = address[1:end], address[end + 2 :]
        if not host or "[" in host or "]" in port_text:
            raise ValueError(problem)
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep or ":" in host or "[" in host or "]" in host:
            raise ValueError(
                f"{problem} (write an IPv6 address in brackets: [::1]:port)"
                if sep and ":" in host
                else problem
            )
    if not host and not allow_empty_host:
        raise ValueError(problem)
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(problem)
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port must be 0..65535, got {port} in {address!r}")
    return HostPort(host, port)


def join_host_port(host: str, port: int) -> str:
    """The inverse of :func:`split_host_port`: brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
