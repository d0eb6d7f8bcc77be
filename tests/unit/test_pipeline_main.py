"""The entry point: the graph it builds, the options it parses, what it keeps out of the logs."""

import logging

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import WorkerOptions
from apache_beam.runners.worker import sdk_worker_main

from pipeline import options as opts
from pipeline import sinks
from pipeline.main import BEAM_BIGQUERY_LOGGER, build_pipeline, parse_options
from tests.support import run_python

SUBSCRIPTION = "--input_subscription=projects/my-project/subscriptions/customers-pipeline"


TOPIC = "--input_topic=projects/my-project/topics/customers"


OUTPUT = "--output_table=my-project:shop.customers"


def test_bad_options_print_one_line_not_a_traceback():
    result = run_python("-m", "pipeline", SUBSCRIPTION, TOPIC, OUTPUT)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "python -m pipeline: error: give exactly one of --input_subscription and --input_topic"
    ]


def _applied(transform):
    yield transform
    for part in transform.parts:
        yield from _applied(part)


@pytest.mark.parametrize("source", [SUBSCRIPTION, TOPIC])
@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9050"])
def test_build_pipeline_wires_every_step(source, endpoint):
    argv = [source, OUTPUT] + ([f"--bigquery_endpoint={endpoint}"] if endpoint else [])
    options = parse_options(argv)
    p = beam.Pipeline(options=options)
    build_pipeline(p, options.view_as(opts.CustomerPipelineOptions))

    applied = {node.full_label: node.transform for node in _applied(p.transforms_stack[0])}
    top = {label for label in applied if label and "/" not in label}
    assert top == {
        "ReadPubSub",
        "ToCustomerRows",
        "WriteCustomers",
        "AllDeadLetters",
        "WriteDeadLetters",
    }
    for sink, table in [
        ("WriteCustomers/Write/WriteToBigQuery", "customers"),
        ("WriteDeadLetters/Write/WriteToBigQuery", "customers_dlq"),
    ]:
        write = applied[sink]
        assert write.table_reference.tableId == table
        if endpoint:
            assert isinstance(write.test_client, sinks.EndpointClient)
            assert (write.test_client.endpoint, write.test_client.project) == (
                endpoint,
                "my-project",
            )
            assert write.create_disposition == opts.CREATE_NEVER
        else:
            assert write.test_client is None
            assert write.create_disposition == opts.CREATE_IF_NEEDED


def test_the_sdk_state_cache_stays_off():
    """Dataflow's SDK harness caches user state only if --max_cache_memory_usage_mb > 0
    (apache_beam/runners/worker/sdk_worker_main.py: _get_state_cache_size_bytes; 0 by default
    in Beam 2.77). Every cache put weighs the value with objsize, which walks every loaded
    module: with the cache on, deduplication cost 5x the rest of the pipeline
    (bench/README.md). An upgrade that turns it on by default must fail here first."""
    options = parse_options([SUBSCRIPTION, OUTPUT])
    assert options.view_as(WorkerOptions).max_cache_memory_usage_mb == 0


@pytest.fixture
def beam_bigquery_logger():
    logger = logging.getLogger(BEAM_BIGQUERY_LOGGER)
    level = logger.level
    yield logger
    logger.setLevel(level)


def test_beam_does_not_log_bigquery_insert_errors_on_the_workers(beam_bigquery_logger):
    """apache_beam/io/gcp/bigquery.py `_flush_batch` logs BigQuery's insertErrors (which may
    quote values) at WARNING/ERROR. The workers apply --sdk_harness_log_level_overrides with
    sdk_worker_main._set_log_level_overrides: run that on the options the job is given."""
    options = parse_options([SUBSCRIPTION, OUTPUT])
    beam_bigquery_logger.setLevel(logging.NOTSET)
    sdk_worker_main._set_log_level_overrides(options.get_all_options())
    assert not beam_bigquery_logger.isEnabledFor(logging.ERROR)


def test_a_log_level_the_caller_gives_for_that_logger_wins(beam_bigquery_logger):
    override = f'--sdk_harness_log_level_overrides={{"{BEAM_BIGQUERY_LOGGER}": "DEBUG"}}'
    options = parse_options([SUBSCRIPTION, OUTPUT, override])
    overrides = options.view_as(WorkerOptions).sdk_harness_log_level_overrides
    assert overrides == {BEAM_BIGQUERY_LOGGER: "DEBUG"}
