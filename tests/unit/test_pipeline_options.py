"""Options: fail fast with one readable line; --help lists every parameter; metadata.json and
the README's parameter table are generated from them."""

import argparse
import json
import re

import pytest
from apache_beam.options.pipeline_options import StandardOptions

from pipeline import options as opts
from pipeline.main import parse_options
from tests.support import ROOT, run_python

SUBSCRIPTION = "--input_subscription=projects/my-project/subscriptions/customers-pipeline"
TOPIC = "--input_topic=projects/my-project/topics/customers"
OUTPUT = "--output_table=my-project:shop.customers"


def _customer_options(*argv: str) -> opts.CustomerPipelineOptions:
    return parse_options(list(argv)).view_as(opts.CustomerPipelineOptions)


def test_defaults():
    options = _customer_options(SUBSCRIPTION, OUTPUT)
    assert options.create_disposition == opts.CREATE_IF_NEEDED
    assert options.dedup_window_seconds == 600
    assert options.bigquery_endpoint is None
    assert opts.dlq_table(options) == "my-project:shop.customers_dlq"
    assert parse_options([SUBSCRIPTION, OUTPUT]).view_as(StandardOptions).streaming


def test_explicit_values():
    options = _customer_options(
        TOPIC,
        "--output_table=my-project.shop.customers",
        "--dlq_table=my-project.audit.rejected",
        "--create_disposition=CREATE_NEVER",
        "--dedup_window_seconds=30",
    )
    assert opts.dlq_table(options) == "my-project.audit.rejected"
    assert options.input_topic == "projects/my-project/topics/customers"
    assert options.dedup_window_seconds == 30


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([OUTPUT], "give exactly one of --input_subscription and --input_topic"),
        (
            [SUBSCRIPTION, TOPIC, OUTPUT],
            "give exactly one of --input_subscription and --input_topic",
        ),
        ([SUBSCRIPTION], "--output_table is required"),
        (
            [SUBSCRIPTION, "--output_table=shop.customers"],
            "--output_table=shop.customers is invalid",
        ),
        (
            [SUBSCRIPTION, "--output_table=my-project:shop"],
            "--output_table=my-project:shop is invalid",
        ),
        ([SUBSCRIPTION, OUTPUT, "--dlq_table=x y"], "--dlq_table=x y is invalid"),
        (["--input_subscription=customers", OUTPUT], "--input_subscription=customers is invalid"),
        (
            ["--input_topic=projects/p/topics/t", OUTPUT],
            "--input_topic=projects/p/topics/t is invalid",
        ),
        ([SUBSCRIPTION, OUTPUT, "--create_disposition=NO"], "--create_disposition=NO is invalid"),
        ([SUBSCRIPTION, OUTPUT, "--dedup_window_seconds=0"], "--dedup_window_seconds=0 is invalid"),
        (
            [SUBSCRIPTION, OUTPUT, "--bigquery_endpoint=localhost"],
            "--bigquery_endpoint=localhost is",
        ),
        # The worker service account may not create the subscription input_topic needs.
        ([TOPIC, OUTPUT, "--runner=DataflowRunner"], "--input_topic cannot be used on Dataflow"),
        ([TOPIC, OUTPUT, "--runner=dataflow"], "--input_topic cannot be used on Dataflow"),
        (
            [TOPIC, OUTPUT, "--runner=apache_beam.runners.DataflowRunner"],
            "--input_topic cannot be used on Dataflow",
        ),
    ],
)
def test_invalid_options_fail_before_any_job_is_built(argv, message):
    with pytest.raises(opts.InvalidOptions) as raised:
        parse_options(argv)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_help_lists_every_parameter():
    result = run_python("-m", "pipeline", "--help")
    assert result.returncode == 0, result.stderr
    for parameter in opts.PARAMETERS + opts.LOCAL_ONLY_PARAMETERS:
        assert f"--{parameter.name}" in result.stdout


# metadata.json (Flex Template parameters) and the parameter table of pipeline/README.md are
# exactly what pipeline/options.py defines.

LOCAL_ONLY = {parameter.name for parameter in opts.LOCAL_ONLY_PARAMETERS}

METADATA = json.loads((ROOT / "metadata.json").read_text(encoding="utf-8"))
PARAMETER_TYPES = {
    "TEXT",
    "PUBSUB_SUBSCRIPTION",
    "PUBSUB_TOPIC",
    "BIGQUERY_TABLE",
    "ENUM",
    "NUMBER",
}


def test_metadata_json_is_generated_from_the_options():
    assert opts.template_metadata() == METADATA, (
        "metadata.json is stale: run `python -m pipeline.options > metadata.json`"
    )


def test_readme_parameter_table_is_generated_from_the_options():
    readme = (ROOT / "pipeline" / "README.md").read_text(encoding="utf-8")
    assert opts.with_markdown_table(readme) == readme, (
        "the parameter table of pipeline/README.md is stale: run `make generate`"
    )


def test_readme_table_lists_every_option_once():
    table = opts.markdown_table()
    for parameter in opts.PARAMETERS + opts.LOCAL_ONLY_PARAMETERS:
        assert table.count(f"| `{parameter.name}` |") == 1


def test_every_option_is_a_template_parameter_except_local_only_ones():
    parser = argparse.ArgumentParser()
    opts.CustomerPipelineOptions._add_argparse_args(parser)
    option_names = {action.dest for action in parser._actions if action.dest != "help"}
    metadata_names = {parameter["name"] for parameter in METADATA["parameters"]}
    assert metadata_names == option_names - set(LOCAL_ONLY)
    assert not metadata_names & set(LOCAL_ONLY)


def test_help_texts_and_defaults_agree_with_argparse():
    parser = argparse.ArgumentParser()
    opts.CustomerPipelineOptions._add_argparse_args(parser)
    actions = {action.dest: action for action in parser._actions}
    for parameter in METADATA["parameters"]:
        action = actions[parameter["name"]]
        assert action.help == parameter["helpText"]
        default = None if action.default is None else str(action.default)
        assert default == parameter.get("defaultValue")


def test_subscription_and_output_table_are_required():
    """Dataflow reads only the subscription Terraform made: input_topic is a local-only option."""
    required = {p["name"] for p in METADATA["parameters"] if not p["isOptional"]}
    assert required == {"input_subscription", "output_table"}
    assert "input_topic" in LOCAL_ONLY


def test_parameters_use_flex_template_fields():
    assert METADATA["streaming"] is True
    for parameter in METADATA["parameters"]:
        assert {"name", "label", "helpText", "isOptional", "regexes", "paramType"} <= set(parameter)
        assert parameter["paramType"] in PARAMETER_TYPES
        for regex in parameter["regexes"]:
            re.compile(regex)
        if parameter["paramType"] == "ENUM":
            values = [option["value"] for option in parameter["enumOptions"]]
            assert all(re.fullmatch(parameter["regexes"][0], value) for value in values)
            assert parameter["defaultValue"] in values


VALID = {
    "input_subscription": "projects/my-project/subscriptions/customers-pipeline",
    "output_table": "my-project:shop.customers",
    "dlq_table": "my-project.shop.customers_dlq",
    "create_disposition": "CREATE_NEVER",
    "dedup_window_seconds": "120",
}
INVALID = {
    "input_subscription": "projects/my-project/topics/customers",
    "output_table": "shop.customers",
    "dlq_table": "my-project:shop",
    "create_disposition": "CREATE_ALWAYS",
    "dedup_window_seconds": "-5",
}


@pytest.mark.parametrize("parameter", METADATA["parameters"], ids=lambda p: p["name"])
def test_template_regexes_accept_and_reject_what_the_options_do(parameter):
    name, regex = parameter["name"], parameter["regexes"][0]
    base = {
        "input_subscription": VALID["input_subscription"],
        "output_table": VALID["output_table"],
    }

    def argv(value):
        return [f"--{key}={val}" for key, val in {**base, name: value}.items()]

    assert re.fullmatch(regex, VALID[name])
    parse_options(argv(VALID[name]))
    assert not re.fullmatch(regex, INVALID[name])
    with pytest.raises((opts.InvalidOptions, SystemExit)):
        parse_options(argv(INVALID[name]))
