"""A stack left up by `make run KEEP=1`: remembered in a file, found again, stopped whole."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from localrun import kept_stack
from localrun.processes import group_alive, spawn
from localrun.resources import StackNames
from tests.support import ROOT

NAMES = StackNames(project="p-1", topic="t", subscription="s", dataset="d")


@dataclass
class Emulator:
    address: str = "127.0.0.1:8085"
    endpoint: str = "http://127.0.0.1:9050"


@pytest.fixture
def stack_file(tmp_path, monkeypatch):
    monkeypatch.setattr(kept_stack, "RUN_DIR", tmp_path)
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    return tmp_path / "stack.json"


@pytest.fixture
def sleeper(tmp_path):
    process = spawn("pipeline", ["sh", "-c", "sleep 60 & wait"], tmp_path)
    yield process
    process.stop(timeout=2)


def test_a_saved_stack_is_found_again(stack_file, sleeper):
    kept_stack.save(NAMES, Emulator(), Emulator(), [sleeper])
    kept = kept_stack.load()
    assert kept_stack.names(kept) == NAMES
    assert kept["pubsub_emulator_host"] == "127.0.0.1:8085"
    assert kept["bigquery_endpoint"] == "http://127.0.0.1:9050"
    assert kept["process_groups"] == {"pipeline": sleeper.pid}


def test_no_stack_is_one_clear_error(stack_file):
    with pytest.raises(kept_stack.KeptStackError, match="no local stack is up"):
        kept_stack.load()
    kept_stack.check_nothing_kept()  # nothing kept: a new run may start


def test_a_new_run_is_refused_while_a_kept_one_is_up(stack_file, sleeper):
    kept_stack.save(NAMES, Emulator(), Emulator(), [sleeper])
    with pytest.raises(kept_stack.KeptStackError, match="still up"):
        kept_stack.check_nothing_kept()


def test_stop_ends_every_kept_group_and_forgets_the_stack(stack_file, sleeper, capsys):
    kept_stack.save(NAMES, Emulator(), Emulator(), [sleeper])
    # `--stop` runs in another process than the one that started the stack: here the test
    # started it, so its shell stays a zombie of the test's until reaped, and counts as alive.
    assert kept_stack.stop_kept(timeout=1) == 0
    assert sleeper.wait(5) is not None
    assert not group_alive(sleeper.pid)
    assert not stack_file.exists()
    assert "stopped the local stack (pipeline)" in capsys.readouterr().out


def test_the_help_shows_how_to_query_and_connect():
    text = kept_stack.connect_help(NAMES, "127.0.0.1:8085", "http://127.0.0.1:9050")
    assert "export PUBSUB_EMULATOR_HOST=127.0.0.1:8085" in text
    assert "--topic projects/p-1/topics/t" in text
    assert all(query in text for query in kept_stack.EXAMPLE_QUERIES)
    # every make target it names exists
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"make ([a-z-]+)", text):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
