"""terraform/ against the Google providers' real schemas (6.50.0), the check that stands in for
`terraform validate` here (the provider registry is unreachable): see terraform_schema.py.

The schemas come from the wheels requirements/terraform-schema.txt pins, fetched and indexed by
`make tools`; the mutation tests prove each kind of mistake the check exists for is caught.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from terraform_files import TERRAFORM, parse_dir
from terraform_schema import Problem, Report, Schema, check, load_schemas, provider_sources

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / ".tools" / "terraform-schema"
LOCK = ROOT / "requirements" / "terraform-schema.txt"
GOOGLE, BETA = "hashicorp/google", "hashicorp/google-beta"
PAGE = "https://registry.terraform.io/providers/hashicorp/{}/6.50.0/docs/{}"


@pytest.fixture(scope="module")
def schemas() -> dict[str, Schema]:
    if not list(SCHEMAS.glob("*.json")):
        pytest.fail(f"no provider schema index in {SCHEMAS}: run `make tools` (scripts/tools.sh)")
    return load_schemas(SCHEMAS)


def check_dir(directory: Path, schemas: dict[str, Schema]) -> Report:
    files = {
        f"{directory.name}/{path.name}": parsed for path, parsed in parse_dir(directory).items()
    }
    return check(files, schemas)


def locked() -> dict[str, tuple[str, set[str]]]:
    """Distribution -> (version, sha256 hashes) from the lock file."""
    text = LOCK.read_text().replace("\\\n", " ")
    return {
        name: (version, set(re.findall(r"--hash=sha256:([0-9a-f]{64})", hashes)))
        for name, version, hashes in re.findall(r"^([\w.-]+)==(\S+)(.*)$", text, re.MULTILINE)
    }


def test_schemas_are_the_locked_packages(schemas):
    assert set(schemas) == {GOOGLE, BETA}
    pins = locked()
    assert len(pins) == 2, pins
    for schema in schemas.values():
        package = schema.package
        distribution = package["wheel"].split("-", 1)[0].replace("_", "-")
        version, hashes = pins[distribution]
        assert package["version"] == version, f"{distribution}: run `make tools`"
        assert package["sha256"] in hashes, f"{distribution}: index of another wheel"
        wheel = SCHEMAS / package["wheel"]
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == package["sha256"], wheel


def test_index_keeps_terraform_names_and_required_arguments(schemas):
    google = schemas[GOOGLE]
    page, block = google.types["resource"]["google_pubsub_subscription"]
    assert page == PAGE.format("google", "resources/pubsub_subscription")
    assert set(google.blocks[block].required) == {"name", "topic"}
    assert google.blocks[block].arguments["dead_letter_policy"]  # a nested block
    # jsii renames `build` to buildAttribute: the name comes from the registry link's anchor.
    _, trigger = google.types["resource"]["google_cloudbuild_trigger"]
    assert "build" in google.blocks[trigger].arguments
    # A property whose docs lost the link falls back to snake_case of its jsii name.
    _, rule = google.types["resource"]["google_compute_forwarding_rule"]
    assert "port_range" in google.blocks[rule].arguments
    assert "google_project" in google.types["data"]
    assert "google_project_service_identity" not in google.types["resource"]
    assert "google_project_service_identity" in schemas[BETA].types["resource"]


def test_terraform_matches_the_provider_schemas(schemas):
    report = check_dir(TERRAFORM, schemas)
    declared = [
        match
        for path in TERRAFORM.glob("*.tf")
        for match in re.findall(r'^(resource|data) "', path.read_text(), re.MULTILINE)
    ]
    assert len(report.checked) == len(declared) > 0
    assert not report.problems, "\n".join(map(str, report.problems))


def terraform_specifiers(constraint: str) -> SpecifierSet:
    """A Terraform version constraint as PEP 440 specifiers (`~> 6.50` is `~=6.50`):
    https://developer.hashicorp.com/terraform/language/expressions/version-constraints"""
    specifiers = []
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(~>|>=|<=|!=|=|>|<)?\s*v?(\d+(?:\.\d+)*)\s*", part)
        assert match, f"cannot read the version constraint {constraint!r}"
        operator, version = match.group(1) or "=", match.group(2)
        if operator == "~>" and "." not in version:
            specifiers += [f">={version}", f"<{int(version) + 1}"]
        else:
            specifiers.append({"~>": "~=", "=": "=="}.get(operator, operator) + version)
    return SpecifierSet(",".join(specifiers))


def pin_problems(directory: Path, schemas: dict[str, Schema]) -> list[str]:
    """How each provider's pin in required_providers and its checked schema version part.

    The pin must admit the checked version, nothing older than its minor release (an older
    provider may lack arguments the check accepted) and no next major (which removes some).
    """
    files = parse_dir(directory).values()
    sources = provider_sources(files)
    pins = {
        sources[local]: spec.get("version", "")
        for parsed in files
        for terraform in parsed.get("terraform", [])
        for required in terraform.get("required_providers", [])
        for local, spec in required.items()
    }
    problems = []
    for provider, schema in schemas.items():
        checked = Version(schema.version)
        pin = pins.get(provider, "")
        specifiers = terraform_specifiers(pin) if pin else SpecifierSet()  # no pin: any version
        older = Version(f"{checked.major}.{max(checked.minor - 1, 0)}.999")
        major = Version(f"{checked.major + 1}.0.0")
        wrong = [
            *([f"excludes the checked {checked}"] if checked not in specifiers else []),
            *([f"admits the older {older}"] if checked.minor and older in specifiers else []),
            *([f"admits {major}"] if major in specifiers else []),
        ]
        if wrong:
            problems.append(
                f"{provider} is pinned to {pin or 'any version'!r}, which {' and '.join(wrong)}: "
                f"pin '~> {checked.major}.{checked.minor}' or move {LOCK.relative_to(ROOT)}"
            )
    return problems


def test_versions_pin_the_checked_provider_version(schemas):
    problems = pin_problems(TERRAFORM, schemas)
    assert not problems, "terraform/versions.tf: " + "\n".join(problems)


@pytest.mark.parametrize(
    ("pin", "wrong"),
    [("~> 6.0", "admits the older 6.49.999"), ("~> 7.0", "excludes the checked 6.50.0"),
     (">= 6.50", "admits 7.0.0"), ("~> 6.51", "excludes the checked 6.50.0")],
)  # fmt: skip
def test_a_pin_apart_from_the_checked_version_fails(tmp_path, schemas, pin, wrong):
    copy = mutated(tmp_path, "versions.tf", r'(\bversion\s*=\s*)"[^"]*"', rf'\1"{pin}"', count=2)
    problems = pin_problems(copy, schemas)
    assert len(problems) == 2 and all(wrong in problem for problem in problems), problems


def mutated(tmp_path: Path, file: str, pattern: str, replacement: str, count: int = 1) -> Path:
    """A copy of terraform/ with `pattern` replaced in `file` (`count` times, asserted)."""
    copy = tmp_path / "terraform"
    if not copy.exists():
        shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    path = copy / file
    text, made = re.subn(
        pattern, replacement, path.read_text() if path.exists() else "", count=count
    )
    assert made == count, f"{file}: {pattern!r} is no longer there: update this mutation"
    path.write_text(text)
    return copy


SUBSCRIPTION = "google_pubsub_subscription.dataflow"
PUBSUB_PAGE = PAGE.format("google", "resources/pubsub_subscription")
BUCKET_PAGE = PAGE.format("google", "resources/storage_bucket")
TABLE_PAGE = PAGE.format("google", "resources/bigquery_table")
MUTATIONS = {
    "misspelt argument": (
        "pubsub.tf", r"ack_deadline_seconds(\s+)= var", r"ack_deadline_secs\1= var",
        [(SUBSCRIPTION, "ack_deadline_secs",
          "ack_deadline_secs is not an argument or block here (hashicorp/google 6.50.0); "
          "did you mean ack_deadline_seconds?", PUBSUB_PAGE)],
    ),
    "removed required argument": (
        "pubsub.tf", r"\n\s*topic\s*= google_pubsub_topic\.customers\.id", "",
        [(SUBSCRIPTION, "topic", "required argument topic is missing (hashicorp/google 6.50.0)",
          PUBSUB_PAGE + "#topic")],
    ),
    "unknown nested block": (
        "pubsub.tf", r"retry_policy \{", "retry_polcy {",
        [(SUBSCRIPTION, "retry_polcy", "retry_polcy is not an argument or block here "
          "(hashicorp/google 6.50.0); did you mean retry_policy?", PUBSUB_PAGE)],
    ),
    "unknown block two levels deep, so its required twin is missing": (
        "storage.tf", r"condition \{", "conditions {",
        [("google_storage_bucket.dataflow", "lifecycle_rule.conditions",
          "conditions is not an argument or block here (hashicorp/google 6.50.0); "
          "did you mean condition?", BUCKET_PAGE),
         ("google_storage_bucket.dataflow", "lifecycle_rule.condition",
          "required argument condition is missing (hashicorp/google 6.50.0)",
          BUCKET_PAGE + "#condition")],
    ),
    "misspelt argument in a dynamic block's content": (
        "bigquery.tf", r"type(\s+)= time_partitioning", r"tipe\1= time_partitioning",
        [("google_bigquery_table.tables", "time_partitioning.tipe",
          "tipe is not an argument or block here (hashicorp/google 6.50.0); did you mean type?",
          TABLE_PAGE),
         ("google_bigquery_table.tables", "time_partitioning.type",
          "required argument type is missing (hashicorp/google 6.50.0)", TABLE_PAGE + "#type")],
    ),
    "unknown dynamic block": (
        "bigquery.tf", r'dynamic "time_partitioning"', 'dynamic "time_partitionin"',
        [("google_bigquery_table.tables", "time_partitionin",
          'dynamic "time_partitionin": time_partitionin is not a block here '
          "(hashicorp/google 6.50.0); did you mean time_partitioning?", TABLE_PAGE)],
    ),
    "beta-only resource without provider = google-beta": (
        "dataflow.tf", r"\n\s*provider\s*= google-beta", "",
        [("google_dataflow_flex_template_job.customers", "",
          "resource type google_dataflow_flex_template_job is not in hashicorp/google 6.50.0, "
          "only in hashicorp/google-beta: set provider = google-beta",
          # cdktf links google-beta pages by the full type name (so do many docs)
          PAGE.format("google-beta", "resources/google_dataflow_flex_template_job"))],
    ),
    "unknown resource type": (
        "pubsub.tf", r'"google_pubsub_subscription" "dead_letter"',
        '"google_pubsub_subscriptions" "dead_letter"',
        [("google_pubsub_subscriptions.dead_letter", "",
          "no resource type google_pubsub_subscriptions in hashicorp/google 6.50.0; "
          "did you mean google_pubsub_subscription?",
          PAGE.format("google", "").rstrip("/"))],
    ),
    "misspelt argument of a data source": (
        "versions.tf", r"project_id = var", "projekt_id = var",
        [("data.google_project.this", "projekt_id",
          "projekt_id is not an argument or block here (hashicorp/google 6.50.0); "
          "did you mean project_id?", PAGE.format("google", "data-sources/project"))],
    ),
    "misspelt lifecycle argument": (
        "pubsub.tf", r"(retain_acked_messages\s*= false)",
        r"\1\n  lifecycle {\n    prevent_destroi = true\n  }",
        [(SUBSCRIPTION, "lifecycle.prevent_destroi",
          "prevent_destroi is not a lifecycle argument of a resource block; "
          "did you mean prevent_destroy?",
          "https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle")],
    ),
    "a provider with no schema": (
        "extra.tf", r"\A", 'resource "random_id" "suffix" {\n  byte_length = 4\n}\n',
        [("random_id.suffix", "", "no schema of provider hashicorp/random to check it against "
          "(have hashicorp/google, hashicorp/google-beta): add its package to "
          "requirements/terraform-schema.txt", "https://registry.terraform.io/providers")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_mistake_is_caught_with_file_block_argument_and_link(tmp_path, schemas, mutation):
    file, pattern, replacement, expected = MUTATIONS[mutation]
    report = check_dir(mutated(tmp_path, file, pattern, replacement), schemas)
    found = sorted(report.problems, key=lambda p: p.argument)
    assert found == sorted(
        (Problem(f"terraform/{file}", *problem) for problem in expected), key=lambda p: p.argument
    ), "\n".join(map(str, found))


def test_meta_arguments_and_timeouts_are_understood(tmp_path, schemas):
    """count, for_each, depends_on and provider are in today's HCL; add lifecycle and timeouts."""
    copy = mutated(
        tmp_path, "pubsub.tf", r"(retain_acked_messages\s*= false)",
        r"\1\n  lifecycle {\n    prevent_destroy = true\n    ignore_changes = [labels]\n  }"
        r'\n  timeouts {\n    create = "5m"\n  }',
    )  # fmt: skip
    report = check_dir(copy, schemas)
    assert not report.problems, "\n".join(map(str, report.problems))
    text = "".join(path.read_text() for path in copy.glob("*.tf"))
    for meta in ("count", "for_each", "depends_on", "provider", "lifecycle", "timeouts", "dynamic"):
        assert re.search(rf"^\s*{meta}\b", text, re.MULTILINE), f"no {meta} in the HCL checked"
