"""terraform/monitoring.tf and dashboard.json.tftpl: every metric, label and aggregation is real.

Nothing here can reach Cloud Monitoring, so the facts the API would check are written down once,
from Google's documentation, and every filter, PromQL selector and aggregation is held against
them after Terraform's interpolations are resolved with the variables' defaults:

- metric types, kinds, value types and labels: the Cloud Monitoring metrics list,
  https://cloud.google.com/monitoring/api/metrics_gcp_d_h#gcp-dataflow (dataflow.googleapis.com)
  and https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub (pubsub.googleapis.com);
- monitored-resource labels: https://cloud.google.com/monitoring/api/resources#tag_dataflow_job
  and #tag_pubsub_subscription;
- which aligner accepts which metric kind and value type, and what the reducers need:
  https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies#Aligner,
  #Reducer and #Aggregation ("If perSeriesAligner is not ALIGN_NONE, then [alignmentPeriod] must
  be defined", "crossSeriesReducer ... perSeriesAligner must be specified and not equal to
  ALIGN_NONE and alignmentPeriod must be specified");
- filter syntax: https://cloud.google.com/monitoring/api/v3/filters; what a condition's filter
  must hold ("The filter must specify the metric type and the resource type", at most 2048
  characters): MetricThreshold and MetricAbsence in gcloud's generated Monitoring client, read
  from the installed SDK by test_the_filter_rules_are_the_ones_gcloud_ships;
- PromQL on Cloud Monitoring metrics (`__name__` is the metric type, `monitored_resource` the
  resource type, metric and resource labels side by side):
  https://cloud.google.com/monitoring/promql/promql-mapping.

The shape of each alert policy and of the dashboard is checked by parsing them into the
Monitoring API's own messages (google-cloud-monitoring's AlertPolicy, google-cloud-monitoring-
dashboards' Dashboard) with unknown fields rejected.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import re2
from google.cloud import monitoring_dashboard_v1, monitoring_v3
from terraform_files import TERRAFORM, parse
from test_runbook import FIELD_MATCH, MESSAGES, TEXT_SEARCH

from pipeline import dead_letters, metrics

NUMERIC = {"INT64", "DOUBLE"}


@dataclass(frozen=True)
class Metric:
    resource: str
    kind: str  # GAUGE | DELTA | CUMULATIVE
    value: str  # INT64 | DOUBLE | BOOL | DISTRIBUTION | STRING
    labels: frozenset[str]
    sample_seconds: int = 60  # "Sampled every 60 seconds" in the metrics list


LOG_METRIC = "logging.googleapis.com/user/customer-stream-dead-letters-unwritable"
# The metrics the alerts and the dashboard use, as the metrics list describes them.
METRICS = {
    # "The value of a user counter metric": a Beam counter's running total for the job.
    "dataflow.googleapis.com/job/user_counter": Metric(
        "dataflow_job", "GAUGE", "DOUBLE", frozenset({"job_id", "metric_name", "ptransform"})
    ),
    "dataflow.googleapis.com/job/system_lag": Metric(
        "dataflow_job", "GAUGE", "INT64", frozenset({"job_id"})
    ),
    "dataflow.googleapis.com/job/data_watermark_age": Metric(
        "dataflow_job", "GAUGE", "INT64", frozenset({"job_id"})
    ),
    "dataflow.googleapis.com/job/is_failed": Metric(
        "dataflow_job", "GAUGE", "INT64", frozenset({"job_id"})
    ),
    "dataflow.googleapis.com/job/current_num_vcpus": Metric(
        "dataflow_job", "GAUGE", "INT64", frozenset({"job_id"})
    ),
    "pubsub.googleapis.com/subscription/oldest_unacked_message_age": Metric(
        "pubsub_subscription", "GAUGE", "INT64", frozenset()
    ),
    "pubsub.googleapis.com/subscription/num_undelivered_messages": Metric(
        "pubsub_subscription", "GAUGE", "INT64", frozenset()
    ),
    # The log-based counter of monitoring.tf (google_logging_metric, name with the defaults):
    # "Counter metrics ... metricKind DELTA, valueType INT64", type logging.googleapis.com/user/NAME
    # (https://cloud.google.com/logging/docs/logs-based-metrics). Its series carry the monitored
    # resource of the log entries it counts ("Resource labels", https://cloud.google.com/logging/
    # docs/logs-based-metrics/labels#default-labels): its filter takes only dataflow_step entries
    # (test_the_log_metric_alert_names_the_resource_of_the_entries_it_counts).
    LOG_METRIC: Metric("dataflow_step", "DELTA", "INT64", frozenset({"log"})),
}
RESOURCE_LABELS = {
    "dataflow_job": frozenset({"project_id", "job_name", "region"}),
    "pubsub_subscription": frozenset({"project_id", "subscription_id"}),
    # https://cloud.google.com/logging/docs/api/v2/resource-list#tag_dataflow_step
    "dataflow_step": frozenset({"project_id", "job_id", "step_id", "job_name", "region"}),
}
# aligner -> (metric kinds, value types) it is valid for (Aligner enum documentation)
ALIGNERS = {
    "ALIGN_NONE": ({"GAUGE", "DELTA", "CUMULATIVE"}, NUMERIC | {"BOOL", "DISTRIBUTION"}),
    "ALIGN_DELTA": ({"CUMULATIVE", "DELTA"}, NUMERIC | {"DISTRIBUTION"}),
    "ALIGN_RATE": ({"CUMULATIVE", "DELTA"}, NUMERIC),
    "ALIGN_INTERPOLATE": ({"GAUGE"}, NUMERIC),
    "ALIGN_NEXT_OLDER": ({"GAUGE"}, NUMERIC | {"BOOL", "DISTRIBUTION", "STRING"}),
    "ALIGN_MIN": ({"GAUGE", "DELTA"}, NUMERIC),
    "ALIGN_MAX": ({"GAUGE", "DELTA"}, NUMERIC),
    "ALIGN_MEAN": ({"GAUGE", "DELTA"}, NUMERIC),
    "ALIGN_COUNT": ({"GAUGE", "DELTA"}, NUMERIC | {"BOOL"}),
    "ALIGN_SUM": ({"GAUGE", "DELTA"}, NUMERIC | {"DISTRIBUTION"}),
    "ALIGN_STDDEV": ({"GAUGE", "DELTA"}, NUMERIC),
    "ALIGN_COUNT_TRUE": ({"GAUGE"}, {"BOOL"}),
    "ALIGN_FRACTION_TRUE": ({"GAUGE"}, {"BOOL"}),
}
# value type an aligner outputs, when it is not the input's
ALIGNED_VALUE = {
    "ALIGN_RATE": "DOUBLE",
    "ALIGN_INTERPOLATE": "DOUBLE",
    "ALIGN_MEAN": "DOUBLE",
    "ALIGN_STDDEV": "DOUBLE",
    "ALIGN_COUNT": "INT64",
    "ALIGN_COUNT_TRUE": "INT64",
    "ALIGN_FRACTION_TRUE": "DOUBLE",
}
# reducer -> value types it accepts (Reducer enum documentation)
REDUCERS = {
    "REDUCE_NONE": NUMERIC | {"BOOL", "DISTRIBUTION", "STRING"},
    "REDUCE_MEAN": NUMERIC | {"DISTRIBUTION"},
    "REDUCE_MIN": NUMERIC,
    "REDUCE_MAX": NUMERIC,
    "REDUCE_SUM": NUMERIC | {"DISTRIBUTION"},
    "REDUCE_STDDEV": NUMERIC | {"DISTRIBUTION"},
    "REDUCE_COUNT": NUMERIC | {"BOOL", "DISTRIBUTION", "STRING"},
    "REDUCE_COUNT_TRUE": {"BOOL"},
    "REDUCE_FRACTION_TRUE": {"BOOL"},
}
# PromQL functions over a range of samples, and the metric kinds they are meant for: rate() and
# increase() assume a counter (CUMULATIVE), delta() and deriv() a gauge (Prometheus docs:
# "delta should only be used with gauges").
PROMQL_RANGE_FUNCTIONS = {
    "rate": {"CUMULATIVE", "DELTA"},
    "increase": {"CUMULATIVE", "DELTA"},
    "irate": {"CUMULATIVE", "DELTA"},
    "delta": {"GAUGE"},
    "deriv": {"GAUGE"},
    "max_over_time": {"GAUGE"},
    "avg_over_time": {"GAUGE"},
}

# --- Terraform, with its interpolations resolved to the variables' defaults ----------------------


@pytest.fixture(scope="module")
def terraform() -> dict:
    merged: dict = {"resource": {}, "variable": {}, "locals": {}}
    for path in sorted(TERRAFORM.glob("*.tf")):
        parsed = parse(path, unescape=True)  # the PromQL and filters hold escaped quotes
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                merged["resource"].setdefault(rtype, {}).update(named)
        for kind in ("variable", "locals"):
            for block in parsed.get(kind, []):
                merged[kind].update(block)
    return merged


class Resolver:
    """Resolves `${var.x}`, `${local.x}` and `${type.name.attr}` the way `terraform plan` would
    with every variable at its default; anything else (a function call) raises."""

    def __init__(self, terraform: dict):
        self.tf = terraform

    def lookup(self, expression: str):
        parts = expression.strip().split(".")
        if parts[0] == "var" and len(parts) == 2:
            return self.tf["variable"][parts[1]]["default"]
        if parts[0] == "local" and len(parts) == 2:
            return self(self.tf["locals"][parts[1]])
        if len(parts) == 3 and parts[0] in self.tf["resource"]:
            return self(self.tf["resource"][parts[0]][parts[1]][parts[2]])
        raise AssertionError(f"cannot resolve ${{{expression}}} statically")

    def __call__(self, value):
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, str):
            return value
        whole = re.fullmatch(r"\$\{([^{}]+)\}", value)
        if whole:  # a bare expression keeps its type (a number stays a number)
            return self.lookup(whole.group(1))
        return re.sub(r"\$\{([^{}]+)\}", lambda m: str(self.lookup(m.group(1))), value)


@pytest.fixture(scope="module")
def resolve(terraform) -> Resolver:
    return Resolver(terraform)


def alert_policies(terraform) -> dict[str, dict]:
    return terraform["resource"]["google_monitoring_alert_policy"]


@pytest.fixture(scope="module")
def dashboard(terraform, resolve) -> dict:
    """dashboard.json.tftpl rendered as templatefile() would, with the arguments monitoring.tf
    passes it, then parsed as JSON."""
    (resource,) = terraform["resource"]["google_monitoring_dashboard"].values()
    call = re.fullmatch(
        r'\$\{templatefile\("\$\{path\.module\}/([\w.]+)", \{(.*)\}\)\}',
        resource["dashboard_json"],
        re.DOTALL,
    )
    assert call, "dashboard_json must be templatefile() of a file beside monitoring.tf"
    arguments = {
        name: resolve(f"${{{expression}}}")
        for name, expression in re.findall(r"(\w+)\s*=\s*([\w.]+)", call.group(2))
    }
    template = (TERRAFORM / call.group(1)).read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", template))
    assert used <= set(arguments), f"template variables without a value: {used - set(arguments)}"
    rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: str(arguments[m.group(1)]), template)
    return json.loads(rendered.replace("$${", "${"))


# --- filters and PromQL -------------------------------------------------------------------------

# The Monitoring filter syntax (https://cloud.google.com/monitoring/api/v3/filters): selectors
# `resource.type`, `metric.type`, `resource.label.KEY`, `metric.label.KEY` (`labels` alike), an
# operator, then a quoted string or one of the documented matching functions. Ours are
# conjunctions: the syntax also has OR, NOT and parentheses, which none of them needs and which
# this check refuses rather than interprets.
_STRING = r'"(?:[^"\\]|\\.)*"'
_FUNCTIONS = r"starts_with|ends_with|has_substring|one_of|monitoring\.regex\.full_match"
_TERM = re.compile(
    rf"""\s*(?P<subject>resource\.type|metric\.type|(?P<scope>resource|metric)\.labels?\.(?P<label>\w+))
        \s*(?P<op>!=|=)\s*
        (?:(?P<value>{_STRING})|(?P<function>{_FUNCTIONS})\(\s*(?P<args>{_STRING}(?:\s*,\s*{_STRING})*)\s*\))
        \s*""",
    re.VERBOSE,
)
# MetricThreshold.filter and MetricAbsence.filter "must not exceed 2048 Unicode characters"
# (test_the_filter_rules_are_the_ones_gcloud_ships).
FILTER_MAX_CHARS = 2048
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


def unquote(string: str) -> str:
    """A filter's quoted string as its value: the quotes off, each backslash escape resolved."""
    return re.sub(r"\\(.)", r"\1", string[1:-1])


def filter_terms(text: str) -> list[re.Match]:
    """The terms of a filter joined by AND; fails on anything else (syntax, OR, a stray quote)."""
    terms, position = [], 0
    while True:
        term = _TERM.match(text, position)
        assert term, f"filter syntax: cannot read {text[position:]!r} in {text!r}"
        terms.append(term)
        position = term.end()
        if position == len(text):
            return terms
        joined = re.compile(r"AND\b").match(text, position)
        assert joined, f"filter syntax: expected AND at {text[position:]!r} in {text!r}"
        position = joined.end()


def filter_rule_problems(text: str) -> list[str]:
    """What the Monitoring API refuses in a MetricThreshold or MetricAbsence filter: "The filter
    must specify the metric type and the resource type" and "must not exceed 2048 Unicode
    characters" (monitoring_v3_messages.py in gcloud; test_the_filter_rules_are_the_ones_gcloud_
    ships). Each type is one `=` term of the conjunction, so it holds for every series."""
    terms = filter_terms(text)
    problems = [f"{len(text)} characters, over {FILTER_MAX_CHARS}"] * (len(text) > FILTER_MAX_CHARS)
    for subject in ("metric.type", "resource.type"):
        given = [t for t in terms if t["subject"] == subject]
        if len(given) != 1 or given[0]["op"] != "=" or not given[0]["value"]:
            problems.append(f'must specify {subject} once, as {subject} = "..."')
    for term in terms:
        if term["function"] == "monitoring.regex.full_match":  # RE2 syntax, as in Logging
            (pattern,) = re.findall(_STRING, term["args"])
            try:
                re2.compile(unquote(pattern), RE2_OPTIONS)
            except re2.error as error:
                problems.append(f"RE2 refuses {pattern}: {error}")
    return problems


def check_filter(text: str) -> Metric:
    """The metric a Monitoring filter selects; fails on a documented rule it breaks, and on any
    metric, resource or label not in the tables above."""
    problems = filter_rule_problems(text)
    assert not problems, f"{text!r}: " + "; ".join(problems)
    terms = filter_terms(text)
    values = {t["subject"]: unquote(t["value"]) for t in terms if t["subject"].endswith("type")}
    assert values["metric.type"] in METRICS, f"unknown metric type in {text!r}"
    metric = METRICS[values["metric.type"]]
    assert values["resource.type"] == metric.resource, f"wrong resource.type in {text!r}"
    for term in terms:
        if term["label"]:
            known = (
                RESOURCE_LABELS[metric.resource] if term["scope"] == "resource" else metric.labels
            )
            assert term["label"] in known, f"{term['scope']} label {term['label']!r}: {text!r}"
    return metric


_SELECTOR = re.compile(r"(?:(?P<function>\w+)\()?\{(?P<matchers>[^{}]*)\}(?:\[(?P<range>\d+)m\])?")
_MATCHER = re.compile(r'\s*"(?P<name>[^"]+)"\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>[^"]*)"\s*')


def beam_counters() -> set[str]:
    """Names of the pipeline's Beam counters in namespace `customers`: `metrics.counter` refuses
    any other name, so the list in pipeline/metrics.py is all of them."""
    return set(metrics.COUNTERS)


def check_promql(query: str) -> list[Metric]:
    """Every selector of `query` names a known metric, its resource, known labels and real Beam
    counters, under a range function meant for the metric's kind over at least two samples."""
    selectors = list(_SELECTOR.finditer(query))
    assert selectors, f"no selector in {query!r}"
    counters = beam_counters()
    metrics = []
    for selector in selectors:
        matchers = {
            m["name"]: (m["op"], m["value"]) for m in _MATCHER.finditer(selector["matchers"])
        }
        assert _MATCHER.sub("", selector["matchers"]).replace(",", "").strip() == ""
        metric = METRICS[matchers.pop("__name__")[1]]
        assert matchers.pop("monitored_resource") == ("=", metric.resource)
        for name, (op, value) in matchers.items():
            assert name in metric.labels | RESOURCE_LABELS[metric.resource], f"label {name!r}"
            if name == "metric_name":
                pattern = re.compile(value if op == "=~" else re.escape(value))
                matched = {c for c in counters if pattern.fullmatch(c)}
                assert matched, f"metric_name {value!r} matches no Beam counter of the pipeline"
        function = selector["function"]
        assert function in PROMQL_RANGE_FUNCTIONS, f"{function!r} over {selector.group(0)}"
        assert metric.kind in PROMQL_RANGE_FUNCTIONS[function], f"{function}() on a {metric.kind}"
        assert int(selector["range"]) * 60 >= 2 * metric.sample_seconds, "range under 2 samples"
        for labels in re.findall(r"by \(([\w, ]+)\)", query):
            for label in labels.split(","):
                assert label.strip() in metric.labels | RESOURCE_LABELS[metric.resource]
        metrics.append(metric)
    return metrics


def check_aggregation(metric: Metric, aggregation: dict) -> None:
    """The aligner fits the metric's kind and value type; the reducer what the aligner gives."""
    aligner = aggregation.get("per_series_aligner", "ALIGN_NONE")
    reducer = aggregation.get("cross_series_reducer", "REDUCE_NONE")
    kinds, values = ALIGNERS[aligner]
    assert metric.kind in kinds and metric.value in values, f"{aligner} on {metric}"
    if aligner != "ALIGN_NONE":
        period = aggregation.get("alignment_period", "")
        assert re.fullmatch(r"\d+s", period) and int(period[:-1]) >= 60, "alignment_period"
    aligned = ALIGNED_VALUE.get(aligner, metric.value)
    assert aligned in REDUCERS[reducer], f"{reducer} after {aligner} ({aligned})"
    if reducer != "REDUCE_NONE":
        assert aligner != "ALIGN_NONE", "a cross-series reducer needs a per-series aligner"
    for field in aggregation.get("group_by_fields", []):
        scope, _, label = field.partition(".label.")
        known = RESOURCE_LABELS[metric.resource] if scope == "resource" else metric.labels
        assert reducer != "REDUCE_NONE" and label in known, f"group_by_fields {field!r}"


# --- alert policies -----------------------------------------------------------------------------


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# Terraform block -> API field whose value is a list (every other block holds one message).
REPEATED = {"conditions", "aggregations"}


def to_api(value, name: str = ""):
    """A resolved Terraform block as the JSON the Monitoring API takes (camelCase, one message
    per single block)."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        items = [to_api(v) for v in value]
        return items if name in REPEATED else items[0]
    if isinstance(value, dict):
        return {camel(k): to_api(v, k) for k, v in value.items()}
    return value


def test_every_alert_policy_is_an_alert_policy_message(terraform, resolve):
    policies = alert_policies(terraform)
    assert set(policies) == {
        "dead_letters",
        "dead_letters_unwritable",
        "writes_refused",
        "no_customers",
        "backlog",
        "lag",
        "job_not_running",
    }
    for name, spec in policies.items():
        # function calls, and Terraform's own depends_on (no API field)
        body = dict(spec, notification_channels=[], user_labels={})
        body.pop("depends_on", None)
        policy = monitoring_v3.AlertPolicy.from_json(
            json.dumps(to_api(resolve(body))), ignore_unknown_fields=False
        )
        assert policy.conditions and policy.documentation.content, name
        assert policy.combiner == monitoring_v3.AlertPolicy.ConditionCombinerType.OR
        assert "Operate" in policy.documentation.content, f"{name}: no pointer to the runbook"


def conditions(terraform, resolve) -> list[tuple[str, str, dict]]:
    return [
        (policy, kind, resolve(body[0]))
        for policy, spec in alert_policies(terraform).items()
        for condition in spec["conditions"]
        for kind, body in condition.items()
        if kind.startswith("condition_")
    ]


def test_every_filter_names_a_real_metric_and_aggregates_it_validly(terraform, resolve):
    used = set()
    for policy, kind, body in conditions(terraform, resolve):
        if kind == "condition_prometheus_query_language":
            used |= set(check_promql(body["query"]))
            continue
        assert kind in ("condition_threshold", "condition_absent"), f"{policy}: {kind}"
        metric = check_filter(body["filter"])
        used.add(metric)
        for aggregation in body.get("aggregations", []):
            check_aggregation(metric, aggregation)
    assert used >= {METRICS[t] for t in METRICS if "num_undelivered" not in t}


def test_each_alert_watches_its_signal(terraform, resolve):
    watched: dict[str, str] = {}
    for policy, _, body in conditions(terraform, resolve):
        watched[policy] = watched.get(policy, "") + body.get("filter", body.get("query", ""))
    assert "dead_letters_(parse|validate|write)" in watched["dead_letters"]
    assert "dead_letters_unwritable" in watched["dead_letters_unwritable"]
    assert LOG_METRIC in watched["dead_letters_unwritable"]
    assert "subscription/oldest_unacked_message_age" in watched["backlog"]
    assert "customers-dataflow" in watched["backlog"]  # the pipeline's subscription
    assert "job/system_lag" in watched["lag"] and "job/data_watermark_age" in watched["lag"]
    assert "job/is_failed" in watched["job_not_running"]
    assert "job/current_num_vcpus" in watched["job_not_running"]
    # The fault runbook (docs/operate.md): refused writes, and a producer that stopped.
    assert '"dead_letters_write"' in watched["writes_refused"]
    assert '"dead_letters_reduced"' in watched["writes_refused"]
    assert '"messages_read"' in watched["no_customers"]


def test_the_unwritable_log_metric_counts_what_the_pipeline_raises(terraform, resolve):
    """The Beam counter dead_letters_unwritable is incremented in a bundle that always fails, and
    Beam returns a bundle's metrics only with its successful response (sdk_worker.py
    SdkWorker.process_bundle), so the alert counts the error in the worker log instead: its
    filter must search for text the pipeline really raises, in Dataflow's worker logs."""
    spec = terraform["resource"]["google_logging_metric"]["dead_letters_unwritable"]
    metric = resolve({k: v for k, v in spec.items() if k != "depends_on"})
    assert f"logging.googleapis.com/user/{metric['name']}" == LOG_METRIC
    descriptor = metric["metric_descriptor"][0]
    assert (descriptor["metric_kind"], descriptor["value_type"]) == ("DELTA", "INT64")
    assert (METRICS[LOG_METRIC].kind, METRICS[LOG_METRIC].value) == ("DELTA", "INT64")
    log_filter = metric["filter"]
    assert 'resource.type="dataflow_step"' in log_filter
    assert "dataflow.googleapis.com%2F(worker|harness)" in log_filter
    texts = TEXT_SEARCH.findall(FIELD_MATCH.sub("", re.sub(r"severity\s*>=\s*\w+", "", log_filter)))
    assert texts == ["BigQuery rejected the reduced dead letter"]
    assert all(text in MESSAGES for text in texts), "the pipeline never raises that text"


def test_thresholds_are_variables_with_defaults(terraform):
    for policy, spec in alert_policies(terraform).items():
        for condition in spec["conditions"]:
            for kind, value in condition.items():
                body = value[0] if kind.startswith("condition_") else {}
                # "any at all" conditions: a failed job, a dead letter that cannot be stored
                fixed = ("is_failed", "logging.googleapis.com/user/")
                if kind == "condition_threshold" and not any(f in body["filter"] for f in fixed):
                    assert re.fullmatch(r"\$\{var\.\w+\}", str(body["threshold_value"])), policy
                if kind == "condition_prometheus_query_language":
                    # "> 0", "> threshold", or "< 1": none over a window given by a variable
                    assert re.search(r"> (0|\$\{var\.\w+\})$", body["query"]) or (
                        body["query"].endswith("< 1") and "[${var." in body["query"]
                    ), policy
                if kind in ("condition_threshold", "condition_absent"):
                    assert body["duration"] == "0s" or "${var." in body["duration"], policy
    for name in (
        "dead_letters_per_minute",
        "oldest_unacked_seconds",
        "system_lag_seconds",
        "data_freshness_seconds",
        "job_absent_seconds",
        "no_customers_minutes",
        "alert_after_seconds",
        "alert_email",
        "notification_channels",
    ):
        variable = terraform["variable"][name]
        assert "default" in variable and variable["description"], name


def test_alerts_go_to_the_email_channel_and_the_given_channels(terraform):
    channel = terraform["resource"]["google_monitoring_notification_channel"]["email"]
    assert channel["type"] == "email"  # label email_address: the email channel type's only label
    assert set(channel["labels"]) == {"email_address"}
    assert channel["count"] == '${var.alert_email == "" ? 0 : 1}'
    wiring = terraform["locals"]["notification_channels"]
    assert "google_monitoring_notification_channel.email[*].id" in wiring
    assert "var.notification_channels" in wiring
    for policy in alert_policies(terraform).values():
        assert policy["notification_channels"] == "${local.notification_channels}"


def test_monitoring_api_is_enabled(terraform):
    services = (TERRAFORM / "apis.tf").read_text()
    assert '"monitoring.googleapis.com"' in services


def test_the_log_metric_alert_names_the_resource_of_the_entries_it_counts(terraform, resolve):
    """A log-based metric's series carry the monitored resource of the log entries it counted
    (https://cloud.google.com/logging/docs/logs-based-metrics/labels#default-labels): the alert's
    resource.type is the one the metric's own filter admits, one type only."""
    (spec,) = terraform["resource"]["google_logging_metric"].values()
    log_filter = resolve(spec["filter"])
    admitted = re.findall(r'resource\.type\s*=\s*"([^"]+)"', log_filter)
    assert len(admitted) == 1 and " OR " not in log_filter, log_filter
    filters = [
        body["filter"]
        for _, kind, body in conditions(terraform, resolve)
        if kind != "condition_prometheus_query_language" and LOG_METRIC in body["filter"]
    ]
    assert filters
    for text in filters:
        assert check_filter(text).resource == admitted[0] == "dataflow_step"


def sdk_root() -> Path:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        pytest.fail(
            "gcloud is not installed: https://cloud.google.com/sdk/docs/install "
            "(Debian: apt-get install google-cloud-cli)"
        )
    result = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True, text=True, check=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "CLOUDSDK_CONFIG": "/nonexistent-gcloud-config"},
    )  # fmt: skip
    return Path(result.stdout.strip())


def docstring(path: Path, message: str) -> str:
    tree = ast.parse(path.read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == message]
    return " ".join(ast.get_docstring(node).split())


def test_the_filter_rules_are_the_ones_gcloud_ships():
    """The rules filter_rule_problems holds every filter to, as the Monitoring API's own message
    docs say them: gcloud's generated client (googlecloudsdk/generated_clients/apis/monitoring/
    v3/monitoring_v3_messages.py, from the API's discovery document)."""
    messages = (
        sdk_root()
        / "lib/googlecloudsdk/generated_clients/apis/monitoring/v3/monitoring_v3_messages.py"
    )
    for message in ("MetricThreshold", "MetricAbsence"):
        text = docstring(messages, message)
        assert "The filter must specify the metric type and the resource type." in text, message
        assert f"must not exceed {FILTER_MAX_CHARS} Unicode characters" in text, message


def every_filter(terraform, resolve, dashboard) -> list[tuple[str, str]]:
    """(where, filter) for each threshold and absence condition and each dashboard chart."""
    found = [
        (f"{policy} {kind}", body["filter"])
        for policy, kind, body in conditions(terraform, resolve)
        if kind in ("condition_threshold", "condition_absent")
    ]
    for tile in dashboard["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            series = data_set["timeSeriesQuery"].get("timeSeriesFilter")
            if series:
                found.append((f"dashboard: {tile['widget']['title']}", series["filter"]))
    return found


def test_every_alert_and_dashboard_filter_follows_the_documented_rules(
    terraform, resolve, dashboard
):
    """Metric type and resource type, valid syntax, at most 2048 characters, RE2 regexes: for
    every policy (the rule is MetricThreshold's and MetricAbsence's) and every chart (the
    dashboard API's TimeSeriesFilter asks less; the same filters serve both here)."""
    filters = every_filter(terraform, resolve, dashboard)
    assert len(filters) >= 10
    problems = [f"{where}: {p}" for where, text in filters for p in filter_rule_problems(text)]
    assert not problems, "\n".join(problems)


LOG_METRIC_TYPE = re.compile(
    r"logging\.googleapis\.com/user/\$\{google_logging_metric\.(\w+)\.name\}"
)
# Monitoring may take "up to 10 minutes" to know a new log-based metric (its own 404 message;
# hashicorp/terraform-provider-google#11102): the wait before a resource that names one.
LOG_METRIC_WAIT_SECONDS = 600


def test_whatever_names_a_new_log_metric_waits_until_monitoring_knows_it(terraform):
    """On a first `make infra`, every resource whose filter names a log-based metric of the same
    apply depends on a time_sleep of at least 10 minutes that starts after that metric (and
    starts again when the metric is replaced)."""
    sleeps = terraform["resource"].get("time_sleep", {})
    checked = 0
    for rtype, named in terraform["resource"].items():
        if rtype == "google_logging_metric":
            continue
        for name, body in named.items():
            for metric in set(LOG_METRIC_TYPE.findall(str(body))):
                waits = [
                    sleep
                    for sleep in sleeps
                    if f"${{time_sleep.{sleep}}}" in body.get("depends_on", [])
                ]
                assert waits, f"{rtype}.{name} names log metric {metric} without a time_sleep"
                for sleep in waits:
                    spec = sleeps[sleep]
                    seconds = int(re.fullmatch(r"(\d+)s", spec["create_duration"]).group(1))
                    assert seconds >= LOG_METRIC_WAIT_SECONDS, f"time_sleep.{sleep}: {seconds}s"
                    triggers = str(spec.get("triggers", "")) + str(spec.get("depends_on", ""))
                    assert f"google_logging_metric.{metric}.id" in triggers, sleep
                checked += 1
    assert checked >= 1


# --- dashboard ----------------------------------------------------------------------------------


def test_dashboard_is_a_dashboard_message(dashboard):
    message = monitoring_dashboard_v1.Dashboard.from_json(
        json.dumps(dashboard), ignore_unknown_fields=False
    )
    assert message.display_name and message.mosaic_layout.tiles


def test_dashboard_tiles_fit_the_grid_without_overlapping(dashboard):
    layout = dashboard["mosaicLayout"]
    taken: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        cells = {
            (tile.get("xPos", 0) + x, tile.get("yPos", 0) + y)
            for x in range(tile["width"])
            for y in range(tile["height"])
        }
        assert all(x < layout["columns"] for x, _ in cells), tile["widget"]["title"]
        assert not cells & taken, f"{tile['widget']['title']} overlaps another tile"
        taken |= cells


def test_dashboard_charts_real_metrics_with_valid_aggregations(dashboard):
    charted = []
    for tile in dashboard["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            query = data_set["timeSeriesQuery"]
            if "prometheusQuery" in query:
                check_promql(query["prometheusQuery"])
            else:
                series = query["timeSeriesFilter"]
                metric = check_filter(series["filter"])
                check_aggregation(
                    metric,
                    {
                        re.sub(r"([A-Z])", r"_\1", k).lower(): v
                        for k, v in series["aggregation"].items()
                    },
                )
            charted.append(tile["widget"]["title"].lower())
    text = " ".join(charted)
    for topic in ("rows", "dead letters by stage", "backlog", "lag", "workers"):
        assert topic in text, f"no chart of {topic}"


def counters_charted(query: str) -> set[str]:
    """The pipeline's Beam counters a PromQL query's `metric_name` matchers select."""
    charted = set()
    for selector in _SELECTOR.finditer(query):
        for m in _MATCHER.finditer(selector["matchers"]):
            if m["name"] == "metric_name":
                pattern = re.compile(m["value"] if m["op"] == "=~" else re.escape(m["value"]))
                charted |= {c for c in beam_counters() if pattern.fullmatch(c)}
    return charted


def test_dead_letters_by_stage_stacks_the_stages_only(dashboard):
    """A stacked bar sums its series: `dead_letters_reduced`/`_unwritable` count letters already
    counted under their stage, so they would be counted twice."""
    (tile,) = [
        tile
        for tile in dashboard["mosaicLayout"]["tiles"]
        if "dead letters by stage" in tile["widget"]["title"].lower()
    ]
    queries = [
        d["timeSeriesQuery"]["prometheusQuery"] for d in tile["widget"]["xyChart"]["dataSets"]
    ]
    charted = set().union(*(counters_charted(q) for q in queries))
    assert charted == {f"dead_letters_{stage}" for stage in dead_letters.STAGES}


def test_the_rows_chart_says_sent_and_shows_what_bigquery_rejected(dashboard):
    """The rows counter counts rows handed to BigQuery, before it accepts or rejects them: the
    chart must not call them written, and shows the rejected ones (`write` dead letters)."""
    (tile,) = [
        t for t in dashboard["mosaicLayout"]["tiles"] if "rows" in t["widget"]["title"].lower()
    ]
    queries = [
        d["timeSeriesQuery"]["prometheusQuery"] for d in tile["widget"]["xyChart"]["dataSets"]
    ]
    assert set().union(*(counters_charted(q) for q in queries)) == {
        "rows_sent_to_bigquery",
        "dead_letters_write",
    }
    assert "written" not in tile["widget"]["title"].lower()


# --- the checks themselves catch what they are for ----------------------------------------------


@pytest.mark.parametrize(
    "bad_filter",
    [
        'resource.type = "dataflow_job" AND metric.type = "dataflow.googleapis.com/job/systemlag"',
        'resource.type = "gce_instance" AND metric.type = "dataflow.googleapis.com/job/system_lag"',
        'resource.type = "dataflow_job" AND resource.label.job = "x" AND '
        'metric.type = "dataflow.googleapis.com/job/system_lag"',
        'resource.type = "dataflow_job" AND metric.label.stage = "x" AND '
        'metric.type = "dataflow.googleapis.com/job/user_counter"',
        'resource.type = "dataflow_job" OR metric.type = "dataflow.googleapis.com/job/is_failed"',
        # no resource type: what the API answers with 400 (the log-metric alert as it was)
        f'metric.type = "{LOG_METRIC}"',
        # no metric type
        'resource.type = "dataflow_job" AND resource.label.job_name = "x"',
        # a resource type that matches no series of the metric
        f'resource.type = "dataflow_job" AND metric.type = "{LOG_METRIC}"',
        # the type as a function, or twice
        'resource.type = starts_with("dataflow") AND '
        'metric.type = "dataflow.googleapis.com/job/system_lag"',
        'resource.type = "dataflow_job" AND resource.type = "dataflow_job" AND '
        'metric.type = "dataflow.googleapis.com/job/system_lag"',
        # a stray quote, an unknown function, a regex RE2 refuses
        'resource.type = "dataflow_job AND metric.type = "dataflow.googleapis.com/job/is_failed"',
        'resource.type = "dataflow_job" AND resource.label.job_name = matches("x") AND '
        'metric.type = "dataflow.googleapis.com/job/is_failed"',
        'resource.type = "dataflow_job" AND resource.label.job_name = '
        'monitoring.regex.full_match("(?!x).*") AND '
        'metric.type = "dataflow.googleapis.com/job/is_failed"',
        # over 2048 characters
        'resource.type = "dataflow_job" AND resource.label.job_name = one_of('
        + ", ".join(f'"job-{i:04d}"' for i in range(250))
        + ') AND metric.type = "dataflow.googleapis.com/job/is_failed"',
    ],
)
def test_check_filter_rejects_unknown_metrics_labels_and_syntax(bad_filter):
    with pytest.raises((AssertionError, KeyError)):
        check_filter(bad_filter)


@pytest.mark.parametrize(
    "aggregation",
    [
        {"alignment_period": "60s", "per_series_aligner": "ALIGN_RATE"},  # GAUGE
        {"alignment_period": "60s", "per_series_aligner": "ALIGN_DELTA"},  # GAUGE
        {"per_series_aligner": "ALIGN_MAX"},  # no alignment period
        {"cross_series_reducer": "REDUCE_SUM"},  # reducer without aligner
        {"alignment_period": "60s", "per_series_aligner": "ALIGN_FRACTION_TRUE"},  # not BOOL
        {
            "alignment_period": "60s",
            "per_series_aligner": "ALIGN_MAX",
            "cross_series_reducer": "REDUCE_MAX",
            "group_by_fields": ["resource.label.zone"],
        },
    ],
)
def test_check_aggregation_rejects_what_the_api_rejects(aggregation):
    with pytest.raises(AssertionError):
        check_aggregation(METRICS["dataflow.googleapis.com/job/system_lag"], aggregation)


@pytest.mark.parametrize(
    "query",
    [
        # rate() is for counters; user_counter is a GAUGE
        'sum(rate({"__name__"="dataflow.googleapis.com/job/user_counter", '
        '"monitored_resource"="dataflow_job", "metric_name"="rows_sent_to_bigquery"}[5m]))',
        # a counter the pipeline does not have
        'sum(delta({"__name__"="dataflow.googleapis.com/job/user_counter", '
        '"monitored_resource"="dataflow_job", "metric_name"="dead_letters_parsing"}[5m]))',
        # one sample per minute: a 1-minute delta has a single point
        'sum(delta({"__name__"="dataflow.googleapis.com/job/user_counter", '
        '"monitored_resource"="dataflow_job", "metric_name"="rows_sent_to_bigquery"}[1m]))',
        # wrong resource
        'sum(delta({"__name__"="dataflow.googleapis.com/job/user_counter", '
        '"monitored_resource"="gce_instance", "metric_name"="rows_sent_to_bigquery"}[5m]))',
    ],
)
def test_check_promql_rejects_wrong_functions_counters_and_ranges(query):
    with pytest.raises((AssertionError, KeyError)):
        check_promql(query)
