"""Options: fail fast with one readable line; --help lists every parameter; metadata.json and
the README's parameter table are generated from them."""

import argparse
import ast
import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import re2
from apache_beam.options.pipeline_options import StandardOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contract
from capacity import measured, model, prices
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


# Where and how the job runs: one value each, in options.py, the Makefile, terraform/ and
# metadata.json, and it is what the capacity model recommends at sign-up rates.
SIGN_UP_RATE = 100  # customers per second


def test_the_run_defaults_are_what_the_capacity_model_recommends():
    book = prices.load("us-central1")
    inputs = model.Inputs(SIGN_UP_RATE, 1000, measured.load().whole_graph_us)
    estimate = model.estimate(inputs, book, model.AT_LEAST_ONCE)
    cheaper = model.estimate(inputs, book, model.EXACTLY_ONCE).usd_month > estimate.usd_month
    assert (estimate.workers.machine.name, estimate.max_workers) == (
        opts.MACHINE_TYPE,
        opts.MAX_WORKERS,
    )
    assert cheaper and opts.STREAMING_MODE == "AT_LEAST_ONCE"
    assert METADATA["defaultStreamingMode"] == opts.STREAMING_MODE


def _default(text: str, pattern: str) -> str:
    found = re.search(pattern, text, re.MULTILINE | re.DOTALL)
    assert found, pattern
    return found.group(1)


def test_the_makefile_and_terraform_use_the_same_run_defaults():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    variables = (ROOT / "terraform" / "variables.tf").read_text(encoding="utf-8")
    job = (ROOT / "terraform" / "dataflow.tf").read_text(encoding="utf-8")
    assert _default(makefile, r"^MACHINE_TYPE \?= (\S+)$") == opts.MACHINE_TYPE
    assert _default(makefile, r"^MAX_WORKERS \?= (\d+)$") == str(opts.MAX_WORKERS)
    # make deploy hands them to scripts/deploy.sh, which hands them to gcloud.
    assert "MACHINE_TYPE=$(MACHINE_TYPE) MAX_WORKERS=$(MAX_WORKERS)" in makefile
    deploy = (ROOT / "scripts" / "deploy.sh").read_text(encoding="utf-8")
    assert '--worker-machine-type="$MACHINE_TYPE" --max-workers="$MAX_WORKERS"' in deploy
    tf_machine = r'variable "machine_type" \{[^}]*default\s+=\s+"([^"]+)"'
    tf_workers = r'variable "max_workers" \{[^}]*default\s+=\s+(\d+)'
    assert _default(variables, tf_machine) == opts.MACHINE_TYPE
    assert _default(variables, tf_workers) == str(opts.MAX_WORKERS)
    assert re.search(r"^\s+machine_type\s+= var.machine_type$", job, re.MULTILINE)
    assert re.search(r"^\s+max_workers\s+= var.max_workers$", job, re.MULTILINE)


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


# --- every regex we ship means the same under RE2 -------------------------------------------------
#
# Dataflow checks a launch's parameters against metadata.json's `regexes` on the server, with
# RE2's syntax and semantics (RE2/J): https://cloud.google.com/dataflow/docs/guides/templates/
# configuring-flex-templates#metadata ("regexes ... that will be used to validate the value").
# RE2 has no lookaround or backreferences and refuses a repeat count above 1000
# (https://github.com/google/re2/wiki/Syntax, "implementation restriction"), where Python's `re`
# accepts all three. Each regex below is compiled by RE2 itself (google-re2) and must accept and
# reject exactly what Python's `re` does (the pipeline and the producer check with `re.fullmatch`).

REGEX_MODULES = (
    ROOT / "pipeline" / "options.py",
    ROOT / "pipeline" / "tables.py",
    *sorted((ROOT / "contract").glob("*.py")),
)
REGEX_SYNTAX = re.compile(r"[\^$\[\]{}()|\\*+?]")
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False  # RE2's own stderr log; the error is raised anyway


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _regex_arguments(tree: ast.AST) -> Iterator[ast.expr]:
    """The pattern argument of every `re.<function>(pattern, ...)` call."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
        ):
            yield node.args[0]


def shipped_regexes() -> dict[str, str]:
    """label -> regex: metadata.json's, every Parameter's, each module-level string constant of
    pipeline/options.py, pipeline/tables.py and contract/ written in regex syntax, and each
    constant or literal those modules pass to a `re` function."""
    found = {
        f"metadata.json {parameter['name']} #{index}": regex
        for parameter in METADATA["parameters"]
        for index, regex in enumerate(parameter["regexes"])
    }
    for parameter in opts.PARAMETERS + opts.LOCAL_ONLY_PARAMETERS:
        found[f"Parameter {parameter.name}"] = parameter.regex
    for path in REGEX_MODULES:
        module = importlib.import_module(_module_name(path))
        tree = ast.parse(path.read_text())
        for name, value in vars(module).items():
            if isinstance(value, str) and REGEX_SYNTAX.search(value) and not name.startswith("__"):
                found[f"{module.__name__}.{name}"] = value
        for argument in _regex_arguments(tree):
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found[f"{module.__name__}:{argument.lineno} literal"] = argument.value
            elif isinstance(argument, ast.Name):
                found[f"{module.__name__}.{argument.id}"] = getattr(module, argument.id)
    return found


SHIPPED = shipped_regexes()
PROJECT, DATASET, TABLE = "my-project", "shop", "customers"
# Values at the edges of each rule, beside what Hypothesis makes: the length limits, the
# characters either engine might read differently (Unicode digits, a trailing newline).
SAMPLES = [
    f"{PROJECT}:{DATASET}.{TABLE}",
    f"{PROJECT}.{'d' * 1024}.{'t' * 1024}",
    f"{PROJECT}.{'d' * 1025}.{TABLE}",
    f"{PROJECT}.{DATASET}.{'t' * 1025}",
    f"{PROJECT}:{DATASET}.{TABLE}\n",
    f"{PROJECT}:{DATASET}.cust\u00f6mers",
    f"projects/{PROJECT}/subscriptions/{'s' * 255}",
    f"projects/{PROJECT}/subscriptions/{'s' * 256}",
    f"projects/{PROJECT}/topics/goog-x",
    f"projects/{PROJECT}/topics/gooX\n",
    "CREATE_NEVER",
    "CREATE_NEVER\n",
    "600",
    "\u0666\u0660\u0660",  # Arabic-Indic 600: Python's \d matches it, RE2's does not
    "http://127.0.0.1\u00a0:9050",  # a no-break space: Python's \s matches it, RE2's does not
    "http://127.0.0.1\x0b:9050",  # a vertical tab: likewise
    "http://127.0.0.1:9050",
    "http://127.0.0.1:9050\n",
    "",
]


def _re2(label: str):
    try:
        return re2.compile(SHIPPED[label], RE2_OPTIONS)
    except re2.error as error:
        pytest.fail(f"{label}: RE2 refuses {SHIPPED[label]!r}: {error}")


# Characters a near miss may put in: ones the engines may class differently, and plain ones.
SWAPS = "\u00e9\u00a0\x0b_.$9"


def _variants(value: str) -> list[str]:
    """`value` and near misses: one character more, fewer, changed, a newline after."""
    changed = [value[:i] + c + value[i + 1 :] for i in range(0, len(value), 7) for c in SWAPS]
    return [value, value + "a", value[1:], value[:-1], value + "\n", "\n" + value, *changed]


def test_the_regexes_are_found():
    """The discovery above finds each kind of regex (a lost kind would leave a regex unchecked)."""
    values = set(SHIPPED.values())
    assert {opts.TABLE_SPEC, opts.ENDPOINT, contract.TOPIC_PATH, contract.SUBSCRIPTION_PATH} <= (
        values
    )
    assert contract.PROJECT_ID in values and r"[:.]" in values  # a fragment, a literal argument
    assert all(regex in values for p in METADATA["parameters"] for regex in p["regexes"])


@pytest.mark.parametrize("label", sorted(SHIPPED))
def test_every_regex_compiles_under_re2(label):
    _re2(label)


@pytest.mark.parametrize("label", sorted(SHIPPED))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_re2_accepts_and_rejects_what_python_does(label, data):
    regex, compiled = SHIPPED[label], _re2(label)
    made = data.draw(st.from_regex(regex, fullmatch=True), label="a match Python makes")
    anchored = regex.startswith("^") and regex.endswith("$")
    for value in SAMPLES + _variants(made):
        python = re.fullmatch(regex, value) is not None
        assert (compiled.fullmatch(value) is not None) is python, (label, value)
        if anchored:  # what an engine that searches, not fullmatches, would decide
            assert (compiled.search(value) is not None) is python, (label, value)


@pytest.mark.parametrize(
    "regex",
    [
        r"^projects/(?!goog)[A-Za-z][-A-Za-z0-9._~%+]{2,254}$",  # "not goog" as a lookahead
        r"^[a-z]{1,1024}$",  # a repeat count over 1000
        r"^(a)\1$",  # a backreference
    ],
)
def test_re2_refuses_what_python_accepts(regex):
    """The check has teeth: each construct RE2 lacks fails to compile there, not here."""
    re.compile(regex)
    with pytest.raises(re2.error):
        re2.compile(regex, RE2_OPTIONS)
