"""drain-local / deploy-local: a drain waits until the pipeline's process group is gone and its
log says it drained; one that exits otherwise, or outlives the timeout, is an error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from google.api_core import exceptions

from localrun import deploy, kept_stack
from localrun.drain import DRAINED
from localrun.resources import StackNames
from pipeline.tables import TABLES
from tests.support import ROOT

DRAINING = (
    "import signal, sys, time\n"
    f"signal.signal(signal.SIGTERM, lambda *_: (print({DRAINED!r}, flush=True), sys.exit(0)))\n"
    "print('up', flush=True)\ntime.sleep(60)\n"
)
NOT_DRAINING = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"
IGNORING = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('up', flush=True)\ntime.sleep(60)\n"
)


def _start(code: str, log_path) -> int:
    """`code` in a process group of its own that is not this process's child (as a kept
    stack's pipeline is not `make drain-local`'s); the group id."""
    shell = subprocess.Popen(
        ["sh", "-c", f'"{sys.executable}" -c "$0" > "{log_path}" 2>&1 &', code],
        start_new_session=True,
    )
    shell.wait()
    deadline = time.monotonic() + 30
    while "up" not in (log_path.read_text() if log_path.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return shell.pid


def test_a_drain_waits_for_the_drained_exit(tmp_path):
    log_path = tmp_path / "pipeline.log"
    assert deploy.drain_group(_start(DRAINING, log_path), log_path, timeout=30) < 30


def test_an_exit_without_draining_is_an_error(tmp_path):
    log_path = tmp_path / "pipeline.log"
    with pytest.raises(deploy.DrainError, match="exited without draining"):
        deploy.drain_group(_start(NOT_DRAINING, log_path), log_path, timeout=30)


def test_a_pipeline_that_does_not_drain_in_time_is_an_error(tmp_path):
    log_path = tmp_path / "pipeline.log"
    pgid = _start(IGNORING, log_path)
    try:
        with pytest.raises(deploy.DrainError, match="has not drained after 1s"):
            deploy.drain_group(pgid, log_path, timeout=1)
    finally:
        os.killpg(pgid, signal.SIGKILL)


def test_without_a_kept_stack_it_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    assert deploy.main(["--drain-only"]) == 2
    assert "make run KEEP=1" in capsys.readouterr().err


def test_tables_without_a_kept_stack_it_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kept_stack, "STACK_FILE", tmp_path / "stack.json")
    assert deploy.main(["--tables"]) == 2
    assert "make run KEEP=1" in capsys.readouterr().err


def _tree_with_column(tmp_path):
    shutil.copytree(ROOT / "pipeline" / "schemas", tmp_path / "pipeline" / "schemas")
    path = tmp_path / "pipeline" / "schemas" / "customers.json"
    table = json.loads(path.read_text())
    table["schema"]["fields"].append({"name": "loyalty_tier", "type": "STRING"})
    path.write_text(json.dumps(table))
    return tmp_path


def test_the_tables_are_those_of_the_tree_given(tmp_path):
    """Another version's schema files, not this process's (make tables-local TREE=...)."""
    found = deploy.tree_tables(_tree_with_column(tmp_path))
    assert [t["tableReference"]["tableId"] for t in found] == [
        t["tableReference"]["tableId"] for t in TABLES
    ]
    assert found[0]["schema"]["fields"][-1]["name"] == "loyalty_tier"
    assert found[1:] == list(TABLES[1:])


def test_a_change_bigquery_refuses_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kept_stack, "load", lambda: {"bigquery_endpoint": "http://127.0.0.1:1"})
    monkeypatch.setattr(kept_stack, "names", lambda kept: StackNames())

    def refuse(client, names, resources):
        raise exceptions.BadRequest("Provided Schema does not match Table p:d.customers.")

    monkeypatch.setattr(deploy, "update_tables", refuse)
    monkeypatch.setattr(deploy.bigquery_client, "client", lambda project, endpoint: None)
    assert deploy.main(["--tables", f"--tree={_tree_with_column(tmp_path)}"]) == 2
    assert capsys.readouterr().err == (
        "error: BigQuery refused the change: Provided Schema does not match Table p:d.customers.\n"
    )
