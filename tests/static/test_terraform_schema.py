"""terraform/ against its providers' real schemas (Google's 6.50.0, hashicorp/time 0.13.1), the
check that stands in for `terraform validate` here (the provider registry is unreachable): see
terraform_schema.py.

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

from tests.support import ROOT

SCHEMAS = ROOT / ".tools" / "terraform-schema"
LOCK = ROOT / "requirements" / "terraform-schema.txt"
GOOGLE, BETA, TIME = "hashicorp/google", "hashicorp/google-beta", "hashicorp/time"


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
    assert set(schemas) == {GOOGLE, BETA, TIME}
    pins = locked()
    assert len(pins) == 3, pins
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
    link, block = google.types["resource"]["google_pubsub_subscription"]
    assert link == page("resources", "pubsub_subscription")
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
    # hashicorp/time: resources only (monitoring.tf's time_sleep), no data source.
    _, sleep = schemas[TIME].types["resource"]["time_sleep"]
    assert {"create_duration", "triggers"} <= set(schemas[TIME].blocks[sleep].arguments)
    assert not schemas[TIME].blocks[sleep].required


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
    copy = terraform_copy(tmp_path, "versions.tf", r'(\bversion\s*=\s*)"~> 6\.50"', rf'\1"{pin}"')
    problems = pin_problems(copy, schemas)
    assert len(problems) == 2, problems  # google and google-beta
    assert all(wrong in problem for problem in problems), problems


# The mutation tests add these blocks to a copy of terraform/ and put one mistake into them: the
# blocks are this test's own, so a change to terraform/ cannot quietly take a mistake away. They
# use every meta-argument, a nested block two levels deep, a dynamic block and a beta-only type.
MUTANTS = """
resource "google_pubsub_subscription" "mutant" {
  name                 = "mutant"
  topic                = "projects/p/topics/t"
  ack_deadline_seconds = 60
  depends_on           = [google_storage_bucket.mutant]

  retry_policy {
    minimum_backoff = "10s"
  }

  lifecycle {
    prevent_destroy = true
    ignore_changes  = [labels]
  }

  timeouts {
    create = "5m"
  }
}

resource "google_storage_bucket" "mutant" {
  for_each = toset(["a"])
  name     = "mutant-${each.key}"
  location = "EU"

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_bigquery_table" "mutant" {
  count      = 1
  dataset_id = "d"
  table_id   = "t"

  dynamic "time_partitioning" {
    for_each = ["DAY"]
    content {
      type = time_partitioning.value
    }
  }
}

resource "google_project_service_identity" "mutant" {
  provider = google-beta
  service  = "pubsub.googleapis.com"
}

data "google_project" "mutant" {
  project_id = "p"
}

resource "time_sleep" "mutant" {
  create_duration = "1s"
  triggers        = { topic = "t" }
}
"""
MUTANT_FILE = "terraform/mutants.tf"


def terraform_copy(
    tmp_path: Path, file: str = "", pattern: str = "", replacement: str = ""
) -> Path:
    """A copy of terraform/ plus MUTANTS, with `pattern` replaced in `file` if given (it must
    match)."""
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    (copy / "mutants.tf").write_text(MUTANTS)
    if pattern:
        path = copy / file
        text, made = re.subn(pattern, replacement, path.read_text())
        assert made, f"{file}: {pattern!r} is no longer there: update this mutation"
        path.write_text(text)
    return copy


def test_meta_arguments_dynamic_blocks_and_timeouts_are_understood(tmp_path, schemas):
    """The mutants as they are: count, for_each, depends_on, provider, lifecycle, timeouts and
    dynamic all pass, so each mistake below is the only thing a mutation test finds."""
    report = check_dir(terraform_copy(tmp_path), schemas)
    assert not report.problems, "\n".join(map(str, report.problems))
    assert {"google_pubsub_subscription.mutant", "data.google_project.mutant"} <= set(
        report.checked
    )


def page(kind: str, name: str, provider: str = "google") -> str:
    return f"https://registry.terraform.io/providers/hashicorp/{provider}/6.50.0/docs/{kind}/{name}"


def found(block: str, argument: str, message: str, link: str) -> Problem:
    return Problem(MUTANT_FILE, block, argument, message, link)


SUBSCRIPTION, SUBSCRIPTION_PAGE = (
    "google_pubsub_subscription.mutant",
    page("resources", "pubsub_subscription"),
)
BUCKET, BUCKET_PAGE = "google_storage_bucket.mutant", page("resources", "storage_bucket")
TABLE, TABLE_PAGE = "google_bigquery_table.mutant", page("resources", "bigquery_table")
IN_GOOGLE = "(hashicorp/google 6.50.0)"
MUTATIONS = {
    "misspelt argument": (
        r"ack_deadline_seconds = 60", "ack_deadline_secs = 60",
        [found(SUBSCRIPTION, "ack_deadline_secs", "ack_deadline_secs is not an argument or block "
               f"here {IN_GOOGLE}; did you mean ack_deadline_seconds?", SUBSCRIPTION_PAGE)],
    ),
    "removed required argument": (
        r'\n  topic += "projects/p/topics/t"', "",
        [found(SUBSCRIPTION, "topic", f"required argument topic is missing {IN_GOOGLE}",
               SUBSCRIPTION_PAGE + "#topic")],
    ),
    "unknown nested block": (
        r"retry_policy \{", "retry_polcy {",
        [found(SUBSCRIPTION, "retry_polcy", "retry_polcy is not an argument or block here "
               f"{IN_GOOGLE}; did you mean retry_policy?", SUBSCRIPTION_PAGE)],
    ),
    "unknown block two levels deep, so its required twin is missing": (
        r"condition \{", "conditions {",
        [found(BUCKET, "lifecycle_rule.conditions", "conditions is not an argument or block "
               f"here {IN_GOOGLE}; did you mean condition?", BUCKET_PAGE),
         found(BUCKET, "lifecycle_rule.condition",
               f"required argument condition is missing {IN_GOOGLE}", BUCKET_PAGE + "#condition")],
    ),
    "misspelt argument in a dynamic block's content": (
        r"type = time_partitioning", "tipe = time_partitioning",
        [found(TABLE, "time_partitioning.tipe",
               f"tipe is not an argument or block here {IN_GOOGLE}; did you mean type?",
               TABLE_PAGE),
         found(TABLE, "time_partitioning.type",
               f"required argument type is missing {IN_GOOGLE}", TABLE_PAGE + "#type")],
    ),
    "unknown dynamic block": (
        r'dynamic "time_partitioning"', 'dynamic "time_partitionin"',
        [found(TABLE, "time_partitionin", 'dynamic "time_partitionin": time_partitionin is not '
               f"a block here {IN_GOOGLE}; did you mean time_partitioning?", TABLE_PAGE)],
    ),
    "beta-only resource without provider = google-beta": (
        r"\n  provider = google-beta", "",
        [found("google_project_service_identity.mutant", "",
               "resource type google_project_service_identity is not in hashicorp/google 6.50.0, "
               "only in hashicorp/google-beta: set provider = google-beta",
               # cdktf links google-beta's pages by the full type name (as many docs do).
               page("resources", "google_project_service_identity", "google-beta"))],
    ),
    "unknown resource type": (
        r'"google_storage_bucket" "mutant"', '"google_storage_buckets" "mutant"',
        [found("google_storage_buckets.mutant", "",
               "no resource type google_storage_buckets in hashicorp/google 6.50.0; "
               "did you mean google_storage_bucket?",
               "https://registry.terraform.io/providers/hashicorp/google/6.50.0/docs")],
    ),
    "misspelt argument of a data source": (
        r'project_id = "p"', 'projekt_id = "p"',
        [found("data.google_project.mutant", "projekt_id", "projekt_id is not an argument or "
               f"block here {IN_GOOGLE}; did you mean project_id?",
               page("data-sources", "project"))],
    ),
    "misspelt lifecycle argument": (
        r"prevent_destroy = true", "prevent_destroi = true",
        [found(SUBSCRIPTION, "lifecycle.prevent_destroi", "prevent_destroi is not a lifecycle "
               "argument of a resource block; did you mean prevent_destroy?",
               "https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle")],
    ),
    "misspelt argument of another provider's resource": (
        r'create_duration = "1s"', 'create_durration = "1s"',
        [found("time_sleep.mutant", "create_durration", "create_durration is not an argument or "
               "block here (hashicorp/time 0.13.1); did you mean create_duration?",
               "https://registry.terraform.io/providers/hashicorp/time/0.13.1/docs/resources/sleep")],
    ),
    "a provider with no schema": (
        r"\Z", 'resource "random_id" "mutant" {\n  byte_length = 4\n}\n',
        [found("random_id.mutant", "", "no schema of provider hashicorp/random to check it "
               "against (have hashicorp/google, hashicorp/google-beta, hashicorp/time): add its "
               "package to "
               "requirements/terraform-schema.txt", "https://registry.terraform.io/providers")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_mistake_is_caught_with_file_block_argument_and_link(tmp_path, schemas, mutation):
    pattern, replacement, expected = MUTATIONS[mutation]
    report = check_dir(terraform_copy(tmp_path, "mutants.tf", pattern, replacement), schemas)
    assert sorted(report.problems, key=str) == sorted(expected, key=str), "\n".join(
        map(str, report.problems)
    )
