"""Entry point: Pub/Sub -> parse, validate, deduplicate -> BigQuery, dead letters -> BigQuery."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.pubsub import ReadFromPubSub
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import bigquery, transforms
from pipeline.options import CustomerPipelineOptions, InvalidOptions, validate


def ingest(
    messages: beam.PCollection, options: CustomerPipelineOptions, test_client: Any = None
) -> None:
    """PubsubMessages -> `customers` rows and `customers_dlq` dead letters, whatever the source.

    A function, not a composite, so the steps keep their top-level names on Dataflow.
    `test_client` replaces only the BigQuery API call (tests, bench/pipeline_bench.py).
    """
    rows, rejected = messages | "ToCustomerRows" >> transforms.ToCustomerRows(
        options.dedup_window_seconds
    )
    write_failures = rows | "WriteCustomers" >> bigquery.WriteCustomers(options, test_client)
    _ = (
        (rejected, write_failures)
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters" >> bigquery.WriteDeadLetters(options, test_client)
    )


def build_pipeline(p: beam.Pipeline, options: CustomerPipelineOptions) -> None:
    """Adds the whole streaming graph to `p`."""
    messages = p | "ReadPubSub" >> ReadFromPubSub(
        subscription=options.input_subscription,
        topic=options.input_topic,
        with_attributes=True,
    )
    ingest(messages, options)


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
    return options


def run(argv: list[str] | None = None) -> None:
    try:
        options = parse_options(argv)
    except InvalidOptions as error:
        sys.exit(f"python -m pipeline: error: {error}")
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, options.view_as(CustomerPipelineOptions))


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run()
