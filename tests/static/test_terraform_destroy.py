"""terraform/'s lifecycle: the state's backend, and what `make destroy` keeps and deletes.

`make destroy` (scripts/destroy.sh) destroys with `-target` every resource of the state except
those of terraform/kept-by-destroy.txt. Terraform destroys a target together with everything
that depends on it, so a kept resource must depend on no destroyed one; and a kept resource is
never asked to go, so every protection the destroy could meet must be on a kept resource.
`DELETE_DATA=1` first applies `delete_data = true`, which must lift each of those protections.
"""

from __future__ import annotations

import json
import re

import pytest
from terraform_files import TERRAFORM, merged, parse

from tests.support import ROOT

KEPT_FILE = TERRAFORM / "kept-by-destroy.txt"
# Arguments that make a provider refuse to delete (deletion_protection), or refuse a bucket or
# dataset that is not empty (force_destroy, delete_contents_on_destroy), with the value that
# lets the delete through.
PROTECTIONS = {
    "deletion_protection": False,
    "force_destroy": True,
    "delete_contents_on_destroy": True,
}
REFERENCE = re.compile(
    r"\b((?:google|time)_[a-z0-9_]+\.[a-z0-9_]+|module\.[a-z0-9_]+|local\.[a-z0-9_]+)"
)


@pytest.fixture(scope="module")
def hcl() -> dict:
    return merged()


def kept() -> list[str]:
    lines = (re.sub(r"#.*", "", line).strip() for line in KEPT_FILE.read_text().splitlines())
    return [line for line in lines if line]


def addresses(hcl: dict) -> dict[str, dict]:
    """Every resource of terraform/ by address (type.name), with its body."""
    return {
        f"{rtype}.{name}": body
        for rtype, named in hcl["resource"].items()
        for name, body in named.items()
    }


def depends_on(hcl: dict) -> dict[str, set[str]]:
    """Each resource's direct dependencies: resources it references, through locals and modules
    too, and its depends_on."""
    resources = addresses(hcl)
    bodies = {**resources, **{f"module.{n}": b for n, b in hcl.get("module", {}).items()}}
    bodies.update({f"local.{n}": v for n, v in hcl.get("locals", {}).items()})

    def refs(node: str, seen: set[str]) -> set[str]:
        found = set()
        for ref in REFERENCE.findall(json.dumps(bodies[node])):
            if ref in resources:
                found.add(ref)
            elif ref in bodies and ref not in seen:
                seen.add(ref)
                found |= refs(ref, seen)
        return found - {node}

    return {address: refs(address, {address}) for address in resources}


def test_the_state_is_in_a_gcs_backend_named_at_init():
    """Partial configuration: the bucket is per project, so `terraform init` gets it
    (https://developer.hashicorp.com/terraform/language/backend#partial-configuration)."""
    (block,) = [b for b in parse(TERRAFORM / "versions.tf")["terraform"] if "backend" in b]
    ((backend, settings),) = [item for entry in block["backend"] for item in entry.items()]
    assert backend == "gcs"
    assert "bucket" not in settings, "the bucket is passed by -backend-config, one per project"
    assert settings.get("prefix"), "a prefix keeps the state apart from anything else stored there"
    init = (ROOT / "scripts" / "terraform-init.sh").read_text()
    assert 'init -input=false -reconfigure -backend-config="bucket=$bucket"' in init
    assert "infra-bootstrap.sh" in init  # the bucket exists before init needs it


def test_every_kept_line_names_a_resource(hcl):
    unknown = set(kept()) - set(addresses(hcl))
    assert not unknown, f"{KEPT_FILE.name} names resources terraform/ does not have: {unknown}"
    assert len(kept()) == len(set(kept()))


def test_nothing_kept_depends_on_a_destroyed_resource(hcl):
    """`terraform destroy -target=X` destroys X and whatever depends on X: a kept resource
    depending on a destroyed one would be destroyed along."""
    graph, keep = depends_on(hcl), set(kept())
    assert graph["google_bigquery_table.tables"] >= {
        "google_bigquery_dataset.customers",
        "google_data_catalog_policy_tag.masked",  # through module.personal_data's schemas
    }
    pulled = {(k, d) for k in keep for d in graph[k] if d not in keep}
    assert not pulled, f"kept resources depending on destroyed ones (keep those too): {pulled}"


def test_every_protected_resource_is_kept_and_delete_data_lifts_the_protection(hcl):
    protected = {
        address: {arg: body[arg] for arg in PROTECTIONS if arg in body}
        for address, body in addresses(hcl).items()
        if any(arg in body for arg in PROTECTIONS)
    }
    assert {"google_bigquery_table.tables", "google_storage_bucket.dataflow"} <= set(protected)
    assert set(protected) <= set(kept()), "a default destroy would stop on these"
    for address, arguments in protected.items():
        for arg, value in arguments.items():
            lifted = {True: "${var.delete_data}", False: "${var.deletion_protection}"}
            assert value == lifted[PROTECTIONS[arg]], (
                f"{address}.{arg} = {value}: DELETE_DATA=1 (delete_data = true, "
                "deletion_protection = false) must lift it"
            )
    destroy = (ROOT / "scripts" / "destroy.sh").read_text()
    assert "lift=(-var=delete_data=true -var=deletion_protection=false)" in destroy


def test_the_data_is_kept_and_everything_billed_by_the_hour_goes(hcl):
    keep = set(kept())
    assert {"google_bigquery_dataset.customers", "google_bigquery_table.tables"} <= keep
    assert "google_dataflow_flex_template_job.customers" not in keep
    assert "google_pubsub_subscription.dataflow" not in keep
    assert "google_artifact_registry_repository.images" not in keep
