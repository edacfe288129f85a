"""host:port parsing: one set of rules (Go's ``net.SplitHostPort``) for every caller."""

from __future__ import annotations

import pytest

from chaos_workbench.host.address import (
    HostPort,
    host_is_loopback,
    join_host_port,
    split_host_port,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", HostPort("127.0.0.1", 8080)),
        ("localhost:0", HostPort("localhost", 0)),
        ("[::1]:8474", HostPort("::1", 8474)),
        ("[fe80::1%lo]:65535", HostPort("fe80::1%lo", 65535)),
        ("db.internal:5432", HostPort("db.internal", 5432)),
    ],
)
def test_valid_addresses(text: str, expected: HostPort) -> None:
    assert split_host_port(text) == expected
    assert join_host_port(*expected) == text


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",  # no port
        "127.0.0.1:",  # empty port
        ":8080",  # empty host (only where the caller allows it)
        "::1:8080",  # IPv6 without brackets: ambiguous, refused as Go refuses it
        "[::1]8080",  # nothing between ']' and the port
        "[::1:8080",  # unclosed bracket
        "[]:8080",  # empty bracketed host
        "host:80a",  # not a number
        "host:-1",
        "host:٣",  # a digit, but not an ASCII one
        "a]:80",
    ],
)
def test_malformed_addresses_are_refused_with_the_address_in_the_message(text: str) -> None:
    with pytest.raises(ValueError, match="expected host:port") as caught:
        split_host_port(text)
    assert repr(text) in str(caught.value)


def test_an_ipv6_address_without_brackets_is_told_how_to_write_it() -> None:
    with pytest.raises(ValueError, match=r"in brackets: \[::1\]:port"):
        split_host_port("::1:8080")


def test_a_port_above_65535_names_the_range() -> None:
    with pytest.raises(ValueError, match=r"port must be 0\.\.65535, got 65536"):
        split_host_port("127.0.0.1:65536")


def test_an_empty_host_means_every_interface_where_allowed() -> None:
    assert split_host_port(":8474", allow_empty_host=True) == HostPort("", 8474)
    assert split_host_port("[::]:0", allow_empty_host=True) == HostPort("::", 0)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("::", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert host_is_loopback(host) is loopback
