"""Entry point: Pub/Sub -> parse, validate, deduplicate -> BigQuery, dead letters -> BigQuery."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.pubsub import ReadFromPubSub
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, WorkerOptions

from pipeline import sinks, transforms
from pipeline.dedupe import DeduplicateCustomers
from pipeline.options import CustomerPipelineOptions, InvalidOptions, validate


def ingest(
    messages: beam.PCollection,
    options: CustomerPipelineOptions,
    test_client: Any = None,
    deduplicate: transforms.Deduplicator = DeduplicateCustomers,
) -> None:
    """PubsubMessages -> `customers` rows and `customers_dlq` dead letters, whatever the source.

    A function, not a composite, so the steps keep their top-level names on Dataflow.
    `test_client` replaces only the BigQuery API call (tests, bench/pipeline_bench.py);
    `deduplicate` only the deduplication, for the direct runner (localrun/local_pipeline.py).
    """
    rows, rejected = messages | "ToCustomerRows" >> transforms.ToCustomerRows(
        options.dedup_window_seconds, deduplicate
    )
    write_failures = rows | "WriteCustomers" >> sinks.WriteCustomers(options, test_client)
    _ = (
        (rejected, write_failures)
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters" >> sinks.WriteDeadLetters(options, test_client)
    )


def build_pipeline(
    p: beam.Pipeline,
    options: CustomerPipelineOptions,
    deduplicate: transforms.Deduplicator = DeduplicateCustomers,
) -> None:
    """Adds the whole streaming graph to `p`."""
    messages = p | "ReadPubSub" >> ReadFromPubSub(
        subscription=options.input_subscription,
        topic=options.input_topic,
        with_attributes=True,
    )
    ingest(messages, options, deduplicate=deduplicate)


# Beam's streaming-insert sink logs BigQuery's insertErrors verbatim, at WARNING ("Will retry")
# or ERROR, in `_flush_batch` of apache_beam/io/gcp/bigquery.py (Beam 2.77: "There were errors
# inserting to BigQuery. ... Errors were {errors}"), and BigQuery's error messages may quote the
# row's values: personal data in the worker log. Silenced on the workers (and in this process,
# for the direct runner); the rejected rows and their reasons are in customers_dlq instead
# (write dead letters, counted in dead_letters_write). A --sdk_harness_log_level_overrides the
# caller gives for the same logger wins.
BEAM_BIGQUERY_LOGGER = "apache_beam.io.gcp.bigquery"


def quiet_beam_bigquery_log(options: PipelineOptions) -> None:
    harness = options.view_as(WorkerOptions)
    overrides = {
        BEAM_BIGQUERY_LOGGER: "CRITICAL",
        **(harness.sdk_harness_log_level_overrides or {}),
    }
    harness.sdk_harness_log_level_overrides = overrides
    logging.getLogger(BEAM_BIGQUERY_LOGGER).setLevel(overrides[BEAM_BIGQUERY_LOGGER])


def parse_options(argv: list[str] | None) -> PipelineOptions:
    """Beam's options plus ours, validated; `--help` lists ours and exits."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Streams new customers from Pub/Sub into BigQuery; "
        "unusable messages go to a dead-letter table with the reason.",
        epilog="Beam's own options (--runner, --project, --region, ...) are accepted too.",
    )
    CustomerPipelineOptions._add_argparse_args(parser)
    parser.parse_known_args(argv)
    options = PipelineOptions(argv, save_main_session=False)
    options.view_as(StandardOptions).streaming = True
    validate(options.view_as(CustomerPipelineOptions))
    quiet_beam_bigquery_log(options)
    return options


def run(
    argv: list[str] | None = None, deduplicate: transforms.Deduplicator = DeduplicateCustomers
) -> None:
    try:
        options = parse_options(argv)
    except InvalidOptions as error:
        sys.exit(f"python -m pipeline: error: {error}")
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, options.view_as(CustomerPipelineOptions), deduplicate)


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run()
