"""Beam's sink weighs each row the same, at a tenth of the cost (pipeline/row_weight.py).

`BigQueryWriteFn._check_row_size` (apache_beam/io/gcp/bigquery.py) sizes every row with
`objsize.get_deep_size` to batch inserts under BigQuery's request limit; these tests hold
the pipeline's objsize setting and show it leaves every weight, hence every batch, unchanged.
"""

from __future__ import annotations

import objsize
from apache_beam.io.gcp.bigquery import BigQueryWriteFn

import pipeline
from pipeline.messages import process_message
from tests.support import FIXTURES


def _rows() -> list[dict]:
    """A row of every user of the captured API responses (every nationality)."""
    rows = []
    for path in sorted(FIXTURES.glob("[0-9][0-9]_api_*.json")):
        payload = path.read_bytes()
        rows += process_message(payload, {"source": "file"}, message_id=path.name).rows
    return rows


def test_importing_the_pipeline_turns_the_module_globals_walk_off():
    assert pipeline.row_weight  # imported, hence configured
    assert objsize.default_settings.exclude_modules_globals is False


def test_beam_weighs_every_row_as_with_objsize_defaults():
    rows = _rows()
    assert len(rows) > 100
    write_fn = BigQueryWriteFn(batch_size=500, create_disposition=None, write_disposition=None)
    weighed = [write_fn._check_row_size((row, f"id-{n}")) for n, row in enumerate(rows)]
    assert all(error is None for _, error in weighed)
    defaults = objsize.ObjSizeSettings(exclude_modules_globals=True)
    assert [size for size, _ in weighed] == [
        defaults.get_deep_size((row, f"id-{n}")) for n, row in enumerate(rows)
    ]
