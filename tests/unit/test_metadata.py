"""metadata.json (Flex Template parameters) and the parameter table of pipeline/README.md are
exactly what pipeline/options.py defines."""

import argparse
import json
import re

import pytest

from pipeline import options as opts
from pipeline.main import parse_options
from tests.support import ROOT

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
