"""Beam's sink weighs each row the same, at a tenth of the cost (pipeline/row_weight.py).

`BigQueryWriteFn._check_row_size` (apache_beam/io/gcp/bigquery.py) sizes every row with
`objsize.get_deep_size` to batch inserts under BigQuery's request limit; these tests hold the
pipeline's objsize setting, where it is applied, and that it leaves every weight, hence every
insert batch, unchanged for every kind of row the pipeline writes.
"""

from __future__ import annotations

import subprocess
import sys

import objsize
import pytest
from apache_beam.io.gcp.bigquery import BigQueryWriteFn
from apache_beam.utils.plugin import BeamPlugin

from pipeline import row_weight
from pipeline.dead_letters import reduced_dead_letter, write_failure
from pipeline.messages import process_message
from tests.support import BAD_MESSAGE_CORPUS, FIXTURES, ROOT

ERRORS = [{"reason": "invalid", "location": "email", "message": "no such field: email"}]


def _rows() -> dict[str, list[dict]]:
    """Every kind of row the pipeline writes, from the captured API responses and bad messages."""
    rows, letters = [], []
    for path in sorted(FIXTURES.glob("[0-9][0-9]_api_*.json")):
        rows += process_message(path.read_bytes(), {"source": "file"}, message_id=path.name).rows
    for path in sorted(BAD_MESSAGE_CORPUS.glob("*-*.*")):
        letters += process_message(
            path.read_bytes(), {"source": "file"}, message_id=path.name
        ).dead_letters
    return {
        "customers": rows,
        "parse and validate dead letters": letters,
        "write dead letters": [write_failure(("t", row, ERRORS)) for row in rows],
        "reduced dead letters": [reduced_dead_letter(("t", letter, ERRORS)) for letter in letters],
    }


ROWS = _rows()


def test_importing_the_sinks_turns_the_module_globals_walk_off():
    """In a fresh interpreter: the process that builds the graph imports the sinks."""
    check = (
        "import objsize\n"
        "before = objsize.default_settings.exclude_modules_globals\n"
        "import pipeline.sinks\n"
        "print(before, objsize.default_settings.exclude_modules_globals)\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert fresh.stdout.split() == ["True", "False"]


def test_dataflow_workers_apply_it_at_start():
    """DataflowRunner puts every loaded BeamPlugin in --beam_plugins; the SDK harness imports
    each at start (sdk_worker_main._import_beam_plugins), before it runs any bundle."""
    plugin = f"{row_weight.__name__}.{row_weight.RowWeight.__name__}"
    assert plugin in BeamPlugin.get_all_plugin_paths()
    start = (
        "import objsize\n"
        "from apache_beam.runners.worker.sdk_worker_main import _import_beam_plugins\n"
        "before = objsize.default_settings.exclude_modules_globals\n"
        f"_import_beam_plugins([{plugin!r}])\n"
        "print(before, objsize.default_settings.exclude_modules_globals)\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", start], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert fresh.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("kind", list(ROWS))
def test_beam_weighs_every_row_as_with_objsize_defaults(kind):
    rows = ROWS[kind]
    assert len(rows) >= 50
    write_fn = BigQueryWriteFn(batch_size=500, create_disposition=None, write_disposition=None)
    weighed = [write_fn._check_row_size((row, f"id-{n}")) for n, row in enumerate(rows)]
    assert all(error is None for _, error in weighed)
    defaults = objsize.ObjSizeSettings(exclude_modules_globals=True)
    assert [size for size, _ in weighed] == [
        defaults.get_deep_size((row, f"id-{n}")) for n, row in enumerate(rows)
    ]
