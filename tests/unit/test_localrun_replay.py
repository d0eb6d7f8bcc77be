"""`make replay`: the replay command aimed at the kept stack; its help needs no stack."""

from __future__ import annotations

import pytest

from localrun import kept_stack, replay


def test_help_needs_no_stack(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    with pytest.raises(SystemExit) as stopped:
        replay.main(["--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage: make replay")


def test_without_a_kept_stack_it_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    with pytest.raises(SystemExit) as stopped:
        replay.main(["--stage", "validate"])
    assert str(stopped.value) == (
        "make replay: error: no local stack is up: start one with `make run KEEP=1`"
    )
