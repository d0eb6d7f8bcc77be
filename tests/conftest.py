"""Shared fixtures: real emulators on free ports, started once per session, always stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localrun.emulators import OFFLINE_AUTH_ENV, start_pubsub_emulator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data" / "randomuser"

# No test may wait on the GCE metadata server.
os.environ.update(OFFLINE_AUTH_ENV)


@pytest.fixture(scope="session")
def emulator_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emulator-logs")


@pytest.fixture(scope="session")
def pubsub_emulator(emulator_log_dir):
    """The real Pub/Sub emulator; sets PUBSUB_EMULATOR_HOST for the client libraries."""
    emulator = start_pubsub_emulator(emulator_log_dir)
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.address
    try:
        yield emulator
    finally:
        emulator.stop()
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous
