"""The emulator wrapper skips only the time-travel copies no query can read (retention 0)."""

from __future__ import annotations

import pytest
from bqemulator.versioning.snapshots import SnapshotManager

from localrun import bigquery_emulator


class _Manager:
    """What the wrapper reads of a SnapshotManager: its retention."""

    def __init__(self, retention_days: int):
        self._retention_days = retention_days


@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(
        bigquery_emulator, "_capture", lambda self, *table, kind: calls.append((table, kind))
    )
    return calls


def test_no_copy_after_a_write_when_time_travel_is_off(captured):
    skip = bigquery_emulator.capture_unless_time_travel_is_off
    assert skip(_Manager(0), "p", "d", "t") is None
    assert skip(_Manager(0), "p", "d", "t", kind="AUTO") is None
    assert captured == []


@pytest.mark.parametrize(("retention", "kind"), [(7, "AUTO"), (0, "USER"), (7, "USER")])
def test_time_travel_and_user_snapshots_are_still_captured(captured, retention, kind):
    bigquery_emulator.capture_unless_time_travel_is_off(
        _Manager(retention), "p", "d", "t", kind=kind
    )
    assert captured == [(("p", "d", "t"), kind)]


def test_install_replaces_the_emulators_capture(monkeypatch):
    monkeypatch.setattr(SnapshotManager, "capture", SnapshotManager.capture)
    bigquery_emulator.install()
    assert SnapshotManager.capture is bigquery_emulator.capture_unless_time_travel_is_off
