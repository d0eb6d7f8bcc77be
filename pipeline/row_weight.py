"""How Beam weighs each row it writes: objsize, made ~10x cheaper through objsize's own settings.

Beam's streaming-insert sink weighs every row with `objsize.get_deep_size` to keep each insert
under BigQuery's request limit (apache_beam/io/gcp/bigquery.py: `BigQueryWriteFn._check_row_size`,
apache/beam#24979). By default objsize first collects the globals dict of every loaded module
(objsize/traverse.py: `exclude_modules_globals`), ~1,900 of them on a Beam worker: ~400 us of
CPU per row, most of the whole pipeline's CPU (bench/README.md). A row is a dict of JSON
scalars that reaches no module's globals, so its weight is the same without that step
(tests/unit/test_pipeline_row_weight.py) at ~40 us. objsize documents `default_settings` as
the way to change its defaults; Beam's SDK harness state cache (off on Dataflow by default)
weighs with the same defaults.
"""

import objsize


def weigh_without_module_globals() -> None:
    objsize.default_settings.update(exclude_modules_globals=False)
