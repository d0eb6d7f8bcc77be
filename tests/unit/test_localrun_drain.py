"""Drain: acknowledgements wait for the next pull (the previous one is written by then), and a
SIGTERM makes the next pull acknowledge what is held and exit instead of pulling."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from localrun import drain


class _ExitedError(Exception):
    pass


def _exit(code: int) -> None:
    raise _ExitedError(code)


def test_acknowledgements_are_held_until_the_next_pull():
    state, acked = drain.Drain(_exit), []
    state.hold("sub-a", ["1", "2"])
    state.hold("sub-b", ["3"])
    assert acked == []
    state.before_pull(lambda sub, ids: acked.append((sub, ids)))
    assert acked == [("sub-a", ["1", "2"]), ("sub-b", ["3"])]
    state.before_pull(lambda sub, ids: acked.append((sub, ids)))
    assert len(acked) == 2, "nothing acknowledged twice"


def test_a_drain_acknowledges_what_is_held_then_exits_instead_of_pulling(caplog):
    state, acked = drain.Drain(_exit), []
    state.hold("sub", ["1"])
    with caplog.at_level(logging.WARNING):
        state.start()
        with pytest.raises(_ExitedError) as exited:
            state.before_pull(lambda sub, ids: acked.append(ids))
    assert exited.value.args == (0,)
    assert acked == [["1"]]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == drain.DRAINING
    assert messages[1] == f"{drain.DRAINED} (1 acknowledged last)"


def test_sigterm_starts_the_drain(monkeypatch):
    state = drain.Drain(_exit)
    monkeypatch.setattr(drain, "DRAIN", state)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        drain.install()
        os.kill(os.getpid(), signal.SIGTERM)
        assert state.draining
    finally:
        signal.signal(signal.SIGTERM, previous)
