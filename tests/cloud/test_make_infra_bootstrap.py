"""`make infra-bootstrap` as typed, the real gcloud against the Cloud Storage fake.

Terraform's gcs backend wants a bucket with Object Versioning
(https://developer.hashicorp.com/terraform/language/backend/gcs); ours also has uniform
bucket-level access and public access prevention, and a second run changes nothing.
"""

from __future__ import annotations

from tests.cloud.cloud_support import PROJECT, REGION

STATE_BUCKET = f"{PROJECT}-customer-stream-tfstate"


def changes(cloud) -> list[str]:
    """Every request that created or changed a bucket."""
    return [str(r.request) for r in cloud.google.storage.records if r.request.method != "GET"]


def test_bootstrap_creates_a_versioned_uniform_private_bucket_once(cloud):
    first = cloud.run(f"make infra-bootstrap PROJECT={PROJECT}")
    assert first.returncode == 0, first.stdout + first.stderr + cloud.refusals()
    bucket = cloud.google.storage.buckets[STATE_BUCKET]
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["iamConfiguration"]["uniformBucketLevelAccess"] == {"enabled": True}
    assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert bucket["location"] == REGION
    made = changes(cloud)
    again = cloud.run(f"make infra-bootstrap PROJECT={PROJECT}")
    assert again.returncode == 0, again.stderr
    assert "nothing to change" in again.stdout
    assert changes(cloud) == made, "a second bootstrap must change nothing"
    # Nothing refused but, where the fake counts it, the describe that found no bucket yet.
    refused = [(r.request.method, r.status) for r in cloud.google.refusals()]
    assert set(refused) <= {("GET", 404)}, cloud.refusals()


def test_an_existing_bucket_gets_versioning_and_uniform_access(cloud):
    cloud.google.storage.add_bucket(STATE_BUCKET, PROJECT)
    done = cloud.run(f"make infra-bootstrap PROJECT={PROJECT}")
    assert done.returncode == 0, done.stdout + done.stderr + cloud.refusals()
    assert "turning all three on" in done.stdout
    bucket = cloud.google.storage.buckets[STATE_BUCKET]
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["iamConfiguration"]["uniformBucketLevelAccess"] == {"enabled": True}
    assert not [c for c in changes(cloud) if c.startswith("storage: POST")]


def test_state_bucket_can_be_named(cloud):
    done = cloud.run(f"make infra-bootstrap PROJECT={PROJECT} STATE_BUCKET=team-state-eu")
    assert done.returncode == 0, done.stdout + done.stderr + cloud.refusals()
    assert set(cloud.google.storage.buckets) == {"team-state-eu"}
    assert "init -backend-config=bucket=team-state-eu" in done.stdout


def test_a_bucket_name_storage_refuses_fails_with_its_message(cloud):
    done = cloud.run(f"make infra-bootstrap PROJECT={PROJECT} STATE_BUCKET=Bad_Name")
    assert done.returncode != 0
    assert "Invalid bucket name" in done.stderr + done.stdout
    assert not cloud.google.storage.buckets
