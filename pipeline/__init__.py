"""Streaming pipeline: Pub/Sub customer messages -> typed BigQuery rows, dead letters aside."""
