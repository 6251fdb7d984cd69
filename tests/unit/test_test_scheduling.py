"""The suite's own scheduling (tests/conftest.py): the LONGEST_FIRST tests head the first shares
that pytest-xdist's ``--dist worksteal`` hands the workers, so that each starts at once on its
own worker, and every entry still names a test (a renamed one would silently stop counting)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from tests.conftest import LONGEST_FIRST, spread_longest, worksteal_shares

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Item:
    nodeid: str


def reorder(nodeids: list[str], workers: int) -> list[str]:
    items = cast(list[pytest.Item], [Item(nodeid) for nodeid in nodeids])
    return [item.nodeid for item in spread_longest(items, workers)]


def test_the_shares_are_the_ones_worksteal_hands_out() -> None:
    assert worksteal_shares(10, 4) == [2, 2, 3, 3]
    assert worksteal_shares(3, 4) == [0, 1, 1, 1]
    assert sum(worksteal_shares(1734, 4)) == 1734


def test_each_long_test_heads_its_own_workers_share(monkeypatch: pytest.MonkeyPatch) -> None:
    longest = {"tests/x/test_slow.py": 300.0, "tests/x/test_b.py::test_long": 80.0}
    longest["tests/x/test_c.py::test_long"] = 60.0
    monkeypatch.setattr("tests.conftest.LONGEST_FIRST", longest)
    plain = [f"tests/x/test_a.py::test_{i}" for i in range(20)]
    nodeids = [
        *plain[:5],
        "tests/x/test_b.py::test_long",
        "tests/x/test_c.py::test_long",
        *plain[5:],
        "tests/x/test_slow.py::test_one[1]",
        "tests/x/test_slow.py::test_one[2]",
    ]
    ordered = reorder(nodeids, 4)
    assert sorted(ordered) == sorted(nodeids)
    starts = [sum(worksteal_shares(len(nodeids), 4)[:worker]) for worker in range(4)]
    # The longest alone on the first worker (its tests together), the next ones on a worker each.
    assert ordered[starts[0] : starts[0] + 2] == nodeids[-2:]
    assert ordered[starts[1]] == "tests/x/test_b.py::test_long"
    assert ordered[starts[2]] == "tests/x/test_c.py::test_long"
    assert [nodeid for nodeid in ordered if nodeid in plain] == plain  # the rest keep their order
    # Without workers they simply come first.
    assert reorder(nodeids, 1)[:4] == [*nodeids[-2:], *nodeids[5:7]]


def test_every_longest_first_entry_names_a_test() -> None:
    for entry in LONGEST_FIRST:
        path, _, name = entry.partition("::")
        source = REPO_ROOT / path
        assert source.is_file(), entry
        if name:
            function = name.split("[")[0]
            tree = ast.parse(source.read_text())
            names = [
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            assert any(found.startswith(function) for found in names), entry
