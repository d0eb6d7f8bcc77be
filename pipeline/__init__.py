"""Streaming pipeline: Pub/Sub customer messages -> typed BigQuery rows, dead letters aside."""

# How Beam's sink weighs rows, for this process and, as a Beam plugin, for every Dataflow worker.
from pipeline import row_weight  # noqa: F401
