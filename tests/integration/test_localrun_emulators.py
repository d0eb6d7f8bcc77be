"""The emulators start on free ports, answer, and leave no process or port behind."""

from __future__ import annotations

import os

import pytest

from localrun.emulators import (
    EmulatorError,
    port_is_bound,
    start_bigquery_emulator,
    start_pubsub_emulator,
)
from localrun.processes import group_alive


@pytest.mark.parametrize("start", [start_pubsub_emulator, start_bigquery_emulator])
def test_emulator_stops_whole_with_its_port(start, tmp_path):
    emulator = start(tmp_path)
    ports = [emulator.port, getattr(emulator, "grpc_port", emulator.port)]
    assert all(port_is_bound(port) for port in ports)
    emulator.stop()
    assert not group_alive(emulator.pid)
    assert not any(port_is_bound(port) for port in ports)


def test_bigquery_emulator_serves_the_project(bigquery_emulator):
    assert bigquery_emulator.endpoint == f"http://127.0.0.1:{bigquery_emulator.port}"
    assert bigquery_emulator.project == "local-project"


def test_no_pubsub_emulator_anywhere_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_BIN", os.fspath(tmp_path / "missing"))
    monkeypatch.setenv("PATH", os.fspath(tmp_path))  # no docker either
    with pytest.raises(EmulatorError, match="gcloud components install pubsub-emulator"):
        start_pubsub_emulator(tmp_path)
