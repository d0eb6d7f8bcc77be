"""How Beam weighs each row it writes: objsize, made ~10x cheaper through objsize's own settings.

Beam's streaming-insert sink weighs every row with `objsize.get_deep_size` to keep each insert
under BigQuery's request limit (apache_beam/io/gcp/bigquery.py: `BigQueryWriteFn._check_row_size`,
apache/beam#24979). By default objsize first collects the globals dict of every loaded module
(objsize/traverse.py: `exclude_modules_globals`), ~1,900 of them on a Beam worker: ~400 us of
CPU per row, most of the whole pipeline's CPU (bench/README.md). The setting only keeps those
dicts themselves out of the count: a row or dead letter, JSON values only, reaches none, so its
weight is the same without the walk (tests/unit/test_pipeline_row_weight.py), at ~40 us; and
turning an exclusion off can only make a weight larger, never an insert batch too big. objsize
documents `default_settings` as the way to change its defaults. Beam's SDK-harness state cache
weighs with the same defaults (it is off on Dataflow unless --max_cache_memory_usage_mb is set).

When it applies: on import of this module. On Dataflow that is at worker start, before any
bundle: `RowWeight` is a BeamPlugin, so DataflowRunner lists it in --beam_plugins
(runners/dataflow/dataflow_runner.py) and the SDK harness imports every listed plugin when it
starts (runners/worker/sdk_worker_main.py: `_import_beam_plugins`). In the process that builds
the pipeline, and so on the in-process runners (direct, FnApiRunner), `pipeline.sinks` imports it.
"""

import objsize
from apache_beam.utils.plugin import BeamPlugin


class RowWeight(BeamPlugin):
    """Makes Dataflow's SDK harness import this module, hence apply the setting, at start."""


def weigh_without_module_globals() -> None:
    objsize.default_settings.update(exclude_modules_globals=False)


weigh_without_module_globals()
