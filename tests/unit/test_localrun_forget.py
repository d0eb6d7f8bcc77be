"""`make forget`: the forget command aimed at the kept stack; its help needs no stack."""

from __future__ import annotations

import json

import pytest

from localrun import forget, kept_stack
from localrun.emulators import OFFLINE_AUTH_ENV


@pytest.fixture
def stack_file(tmp_path, monkeypatch):
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    for key in [*OFFLINE_AUTH_ENV, "PUBSUB_EMULATOR_HOST"]:  # restored after the test
        monkeypatch.setenv(key, "unset")
    return tmp_path / "stack.json"


def test_help_needs_no_stack(stack_file, capsys):
    with pytest.raises(SystemExit) as stopped:
        forget.main(["--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage: make forget")


def test_without_a_kept_stack_it_says_how_to_start_one(stack_file):
    with pytest.raises(SystemExit) as stopped:
        forget.main(["--customer", "0a58c609-827b-4991-929f-37a55c0df094"])
    assert str(stopped.value) == (
        "make forget: error: no local stack is up: start one with `make run KEEP=1`"
    )


def test_the_kept_stack_s_tables_come_before_the_users_flags(stack_file, monkeypatch):
    stack_file.write_text(
        json.dumps(
            {
                "project": "local-project",
                "topic": "customers",
                "subscription": "customers-pipeline",
                "dataset": "shop",
                "pubsub_emulator_host": "localhost:8085",
                "bigquery_endpoint": "http://localhost:9050",
            }
        )
    )
    called = []
    monkeypatch.setattr(forget.forget, "main", lambda argv, prog: called.append((argv, prog)) or 0)
    assert forget.main(["--customer", "C"]) == 0
    [(argv, prog)] = called
    assert prog == "make forget"
    assert argv[-2:] == ["--customer", "C"]
    assert "--erasures-table=local-project.shop.erasure_requests" in argv
    assert "--bigquery-endpoint=http://localhost:9050" in argv
