"""The Cloud Build fake under the real `gcloud builds submit`: what Cloud Build refuses is refused.

Each case is cloudbuild.yaml (or a copy with one thing broken) submitted as `make build` submits
it; the rules and their sources are in tests/gcp_fakes/cloudbuild.py.
"""

from __future__ import annotations

import shlex

from tests.cloud.cloud_support import PROJECT, terraform_outputs

OUT = terraform_outputs()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def submit(cloud, source, substitutions: str, config: str = "cloudbuild.yaml"):
    return cloud.run(
        shlex.join([
            "gcloud", "builds", "submit", ".", f"--project={PROJECT}", f"--config={config}",
            f"--service-account={OUT['cloudbuild_service_account']}",
            f"--gcs-source-staging-dir=gs://{OUT['bucket']}/source",
            f"--substitutions={substitutions}",
        ]),
        cwd=source, timeout=600,
    )  # fmt: skip


def test_a_substitution_the_config_never_uses_is_refused(cloud):
    cloud.provision()
    source = cloud.checkout()
    submitted = submit(cloud, source, f"_BUCKET={OUT['bucket']},_UNUSED=1,COMMIT_SHA={COMMIT}")
    assert submitted.returncode != 0
    assert 'key "_UNUSED" in the substitution data is not matched' in submitted.stderr
    assert not cloud.google.cloudbuild.builds


def test_a_lowercase_substitution_key_is_refused(cloud):
    cloud.provision()
    source = cloud.checkout()
    submitted = submit(cloud, source, f"_BUCKET={OUT['bucket']},_bucket=x,COMMIT_SHA={COMMIT}")
    assert submitted.returncode != 0
    assert "invalid substitution key '_bucket'" in submitted.stderr


def test_a_service_account_without_cloud_logging_only_is_refused(cloud):
    cloud.provision()
    source = cloud.checkout()
    config = (source / "cloudbuild.yaml").read_text(encoding="utf-8")
    (source / "other.yaml").write_text(
        config.replace("logging: CLOUD_LOGGING_ONLY", "logging: LEGACY"), encoding="utf-8"
    )
    submitted = submit(cloud, source, f"_BUCKET={OUT['bucket']},COMMIT_SHA={COMMIT}", "other.yaml")
    assert submitted.returncode != 0
    assert "user-specified service account needs logsBucket" in submitted.stderr
