"""``safe_file_name``: whatever the name, one path component that stays in its directory."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos_workbench.host.names import safe_file_name

SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def test_a_valid_identifier_is_its_own_file_name() -> None:
    for name in ("db", "order-service", "web_dev_mysql_1", "a.b", "_x", "A" * 100):
        assert safe_file_name(name) == name


def test_anything_else_keeps_what_it_can_and_gets_a_hash() -> None:
    mapped = safe_file_name("db latency 500ms")
    assert mapped.startswith("db-latency-500ms-")
    assert len(mapped) == len("db-latency-500ms-") + 10
    assert safe_file_name("x/../../../escaped").startswith("x-escaped-")
    assert safe_file_name("..") != ".."
    assert safe_file_name(".") not in (".", "")
    assert safe_file_name("") != ""
    assert len(safe_file_name("x" * 300)) == 100
    assert len(safe_file_name("x" * 300, max_length=40)) == 40


def test_names_that_differ_only_in_what_is_replaced_stay_apart() -> None:
    names = ["a b", "a-b", "a/b", "a:b", "a\x00b", "a  b", "a b " * 40, "a b  " * 40, "é", "ü"]
    assert len({safe_file_name(n) for n in names}) == len(names)


@settings(max_examples=300, deadline=None, database=None)
@given(name=st.text(max_size=400) | st.sampled_from(["..", ".", "/", "../" * 100, "\ud800"]))
def test_any_name_is_one_component_inside_its_parent(name: str) -> None:
    mapped = safe_file_name(name)
    assert mapped not in ("", ".", "..")
    assert set(mapped) <= SAFE
    assert not mapped.startswith((".", "-"))
    assert len(mapped) <= 100
    parent = Path("/runs")
    assert (parent / mapped).parent == parent
    assert os.path.normpath(parent / mapped).startswith("/runs/")
