"""`python -m localrun.query`: one SQL statement on a kept stack, or one line saying why not."""

from __future__ import annotations

import pytest

from localrun import kept_stack, query


def test_it_takes_exactly_one_statement():
    with pytest.raises(SystemExit, match=r"usage: python -m localrun\.query"):
        query.main([])
    with pytest.raises(SystemExit, match="usage"):
        query.main(["SELECT 1", "SELECT 2"])


def test_without_a_kept_stack_it_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    with pytest.raises(SystemExit) as stopped:
        query.main(["SELECT 1"])
    assert str(stopped.value) == (
        "localrun.query: error: no local stack is up: start one with `make run KEEP=1`"
    )
