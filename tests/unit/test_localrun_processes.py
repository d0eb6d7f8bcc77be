"""Child processes stopped whole: a launcher's children go with it, nothing keeps a port."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from localrun.processes import group_alive, spawn

# A launcher that starts a child and waits, as the emulators' launcher scripts do.
LAUNCHER = "sleep 60 & echo started; wait"


@pytest.fixture
def launcher(tmp_path):
    process = spawn("launcher", ["sh", "-c", LAUNCHER], tmp_path)
    yield process
    process.stop(timeout=2)


def test_stop_ends_the_whole_group(launcher):
    assert launcher.running()
    assert group_alive(launcher.pid)
    launcher.stop(timeout=5)
    assert not launcher.running()
    assert not group_alive(launcher.pid)  # the `sleep` child too


def test_a_group_that_ignores_sigterm_is_killed(tmp_path):
    stubborn = spawn("stubborn", ["sh", "-c", "trap '' TERM; " + LAUNCHER], tmp_path)
    try:
        # Only once the trap is set: a SIGTERM before it would end the shell at once.
        deadline = time.monotonic() + 10
        while stubborn.log_tail(1) != "started" and time.monotonic() < deadline:
            time.sleep(0.05)
        stubborn.stop(timeout=0.5)
        assert stubborn.process.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 5  # the killed child's exit is reaped by init
        while group_alive(stubborn.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not group_alive(stubborn.pid)
    finally:
        stubborn.stop(timeout=0.5)


def test_output_goes_to_the_log_file(tmp_path):
    talker = spawn("talker", [sys.executable, "-c", "print('one'); print('two')"], tmp_path)
    assert talker.wait(30) == 0
    assert talker.log_tail(1) == "two"
    assert talker.log_path == tmp_path / "talker.log"


def test_wait_gives_none_while_it_runs(launcher):
    assert launcher.wait(0.1) is None
