"""The pipeline's parameters: one table here drives argparse, validation, metadata.json and
the parameter table of pipeline/README.md.

`python -m pipeline.options` prints the Flex Template metadata (metadata.json is that output);
`python -m pipeline.options --readme pipeline/README.md` rewrites the README's table
(`make generate` writes both). Tests fail when either file disagrees with this module.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from contract import SUBSCRIPTION_PATH, TOPIC_PATH
from pipeline.tables import TABLE_SPEC

# There is deliberately no write_method parameter: rows go by streaming inserts only. Beam
# Python runs STORAGE_WRITE_API as a Java cross-language transform: building the pipeline starts
# a Java expansion service from the GCP expansion-service jar, which Beam downloads from Maven
# (apache_beam/io/gcp/bigquery.py StorageWriteToBigQuery, apache_beam/utils/subprocess_server.py
# JavaJarServer). This image carries neither a JRE nor that jar, and no test here could build
# the path. To add it back: install a JRE in Dockerfile.pipeline, fetch the matching
# beam-sdks-java-io-google-cloud-platform-expansion-service jar at image build and point
# `expansion_service` at it, then test that the pipeline builds inside the image.
CREATE_IF_NEEDED, CREATE_NEVER = "CREATE_IF_NEEDED", "CREATE_NEVER"

# Where and how the job runs, as the capacity model recommends (`make capacity`, docs/cost.md):
# one worker of this type carries thousands of customers a second, a second one drains a backlog;
# at-least-once mode is safe because DeduplicateCustomers drops a redelivered customer
# (tests/unit/test_pipeline_dedupe.py) and cheaper (Streaming Engine's resource-based billing).
# The Makefile (make deploy), terraform/ and metadata.json take these; tests hold them equal.
MACHINE_TYPE = "n1-standard-2"
MAX_WORKERS = 2
# TemplateMetadata.defaultStreamingMode (gcloud's generated dataflow v1b3 messages): valid only
# when the template supports both modes.
STREAMING_MODE = "AT_LEAST_ONCE"

# Every regex here is also Dataflow's: metadata.json's `regexes` are checked at launch by RE2,
# whose \s and \d are ASCII only (https://github.com/google/re2/wiki/Syntax), so whitespace is
# spelled in ASCII. TABLE_SPEC's repeat counts are written for RE2 too (pipeline/tables.py).
# tests/unit/test_pipeline_options.py holds each regex to the same answers under RE2 and Python.
ENDPOINT = r"^https?://[^/ \t\n\r\f\v]+/?$"


@dataclass(frozen=True)
class Parameter:
    """One pipeline parameter; `regex` is what both the options and the template check."""

    name: str
    label: str
    help: str
    regex: str
    param_type: str = "TEXT"
    default: str | None = None
    optional: bool = True
    choices: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """This parameter as a Flex Template ParameterMetadata entry."""
        entry: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "helpText": self.help,
            "isOptional": self.optional,
            "regexes": [self.regex],
            "paramType": self.param_type,
        }
        if self.choices:
            entry["enumOptions"] = [{"value": choice} for choice in self.choices]
        if self.default is not None:
            entry["defaultValue"] = self.default
        return entry


PARAMETERS = (
    Parameter(
        "input_subscription",
        "Pub/Sub input subscription",
        "Subscription to read customer messages from, as projects/PROJECT/subscriptions/NAME.",
        SUBSCRIPTION_PATH,
        param_type="PUBSUB_SUBSCRIPTION",
        optional=False,
    ),
    Parameter(
        "output_table",
        "BigQuery customers table",
        "Table for customer rows, as PROJECT:DATASET.TABLE or PROJECT.DATASET.TABLE.",
        TABLE_SPEC,
        param_type="BIGQUERY_TABLE",
        optional=False,
    ),
    Parameter(
        "dlq_table",
        "BigQuery dead-letter table",
        "Table for messages that could not be used, with the reason. "
        "Defaults to the output table's name followed by _dlq.",
        TABLE_SPEC,
        param_type="BIGQUERY_TABLE",
    ),
    Parameter(
        "create_disposition",
        "Create tables if missing",
        "CREATE_IF_NEEDED (default) creates missing tables from the schema files; "
        "CREATE_NEVER expects them to exist (e.g. created by Terraform).",
        f"^({CREATE_IF_NEEDED}|{CREATE_NEVER})$",
        param_type="ENUM",
        default=CREATE_IF_NEEDED,
        choices=(CREATE_IF_NEEDED, CREATE_NEVER),
    ),
    Parameter(
        "dedup_window_seconds",
        "Duplicate window (seconds)",
        "A customer_id seen again within this many seconds of processing time is dropped "
        "as a duplicate. Default 600.",
        r"^[1-9][0-9]{0,6}$",
        param_type="NUMBER",
        default="600",
    ),
)

# Only for local runs (direct runner, emulators); never Flex Template parameters.
LOCAL_ONLY_PARAMETERS = (
    Parameter(
        "input_topic",
        "Pub/Sub input topic (local runs only)",
        "Instead of --input_subscription: read from this topic, as projects/PROJECT/topics/NAME, "
        "through a temporary subscription the runner creates (sees only messages published "
        "after the start). Refused on Dataflow.",
        TOPIC_PATH,
        param_type="PUBSUB_TOPIC",
    ),
    Parameter(
        "bigquery_endpoint",
        "BigQuery endpoint (local runs only)",
        "Send rows to this BigQuery API endpoint, e.g. http://127.0.0.1:9050 for the emulator. "
        "The tables must exist (create_disposition is forced to CREATE_NEVER).",
        ENDPOINT,
    ),
)


class InvalidOptions(ValueError):  # noqa: N818 (reads as the sentence it reports)
    """A parameter value the pipeline cannot run with; the message is one readable line."""


class CustomerPipelineOptions(PipelineOptions):
    """The customer pipeline's own options, next to Beam's (--runner, --project, ...)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        for parameter in PARAMETERS + LOCAL_ONLY_PARAMETERS:
            kind = int if parameter.param_type == "NUMBER" else str
            parser.add_argument(
                f"--{parameter.name}",
                type=kind,
                default=None if parameter.default is None else kind(parameter.default),
                help=parameter.help,
            )


def validate(options: CustomerPipelineOptions) -> None:
    """Raises InvalidOptions for anything that would only fail once the job runs."""
    for parameter in PARAMETERS + LOCAL_ONLY_PARAMETERS:
        value = getattr(options, parameter.name)
        if value is not None and not re.fullmatch(parameter.regex, str(value)):
            raise InvalidOptions(f"--{parameter.name}={value!s:.200} is invalid: {parameter.help}")
    if (options.input_subscription is None) == (options.input_topic is None):
        raise InvalidOptions("give exactly one of --input_subscription and --input_topic")
    if options.output_table is None:
        raise InvalidOptions("--output_table is required (PROJECT:DATASET.TABLE)")
    if options.input_topic is not None and runs_on_dataflow(options):
        raise InvalidOptions(
            "--input_topic cannot be used on Dataflow (the worker service account may not "
            "create subscriptions): give --input_subscription, e.g. the one Terraform creates"
        )


def runs_on_dataflow(options: PipelineOptions) -> bool:
    """Whether --runner names Dataflow (DataflowRunner, dataflow, or the runner's full path)."""
    runner = options.view_as(StandardOptions).runner or ""
    return str(runner).rsplit(".", 1)[-1].lower() in ("dataflow", "dataflowrunner")


def dlq_table(options: CustomerPipelineOptions) -> str:
    return options.dlq_table or f"{options.output_table}_dlq"


def table_project(table_spec: str) -> str:
    return re.split(r"[:.]", table_spec, maxsplit=1)[0]


def template_metadata() -> dict[str, Any]:
    """The Flex Template metadata (metadata.json) for PARAMETERS."""
    return {
        "name": "Customers: Pub/Sub to BigQuery",
        "description": "Streams new-customer messages (randomuser.me users) from Pub/Sub into "
        "a typed BigQuery table; unusable messages go to a dead-letter table with the reason.",
        "streaming": True,
        "supportsAtLeastOnce": True,
        "supportsExactlyOnce": True,
        "defaultStreamingMode": STREAMING_MODE,
        "parameters": [parameter.metadata() for parameter in PARAMETERS],
    }


def markdown_table() -> str:
    """PARAMETERS and LOCAL_ONLY_PARAMETERS as the Markdown table of pipeline/README.md."""
    lines = ["| parameter | default | meaning |", "|---|---|---|"]
    for parameter in PARAMETERS + LOCAL_ONLY_PARAMETERS:
        if not parameter.optional:
            default = "required"
        elif parameter.default is None:
            default = "-"
        else:
            default = f"`{parameter.default}`"
        meaning = parameter.help.replace("|", "\\|")
        if parameter in LOCAL_ONLY_PARAMETERS:
            meaning = f"**local runs only** (not a template parameter). {meaning}"
        lines.append(f"| `{parameter.name}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


TABLE_BEGIN = "<!-- generated by `python -m pipeline.options --readme`: do not edit -->"
TABLE_END = "<!-- end of generated parameter table -->"


def with_markdown_table(readme: str) -> str:
    """`readme` with the text between TABLE_BEGIN and TABLE_END replaced by markdown_table()."""
    head, rest = readme.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_BEGIN}\n{markdown_table()}{TABLE_END}{tail}"


if __name__ == "__main__":
    match sys.argv[1:]:
        case []:
            json.dump(template_metadata(), sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        case ["--markdown"]:
            sys.stdout.write(markdown_table())
        case ["--readme", path]:
            with open(path, encoding="utf-8") as readme:
                text = readme.read()
            with open(path, "w", encoding="utf-8") as readme:
                readme.write(with_markdown_table(text))
        case _:
            sys.exit("usage: python -m pipeline.options [--markdown | --readme pipeline/README.md]")
