"""Streaming pipeline: Pub/Sub customer messages -> typed BigQuery rows, dead letters aside.

Every worker imports this package before it runs any of the pipeline's steps (it unpickles
them), so the setting below holds wherever Beam's sink weighs a row: see `row_weight`.
"""

from pipeline import row_weight

row_weight.weigh_without_module_globals()
