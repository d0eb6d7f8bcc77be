#!/usr/bin/env bash
# `make infra-bootstrap` (and the start of every `make infra`): the bucket of Terraform's state.
#
#   scripts/infra-bootstrap.sh PROJECT REGION STATE_BUCKET
#
# Idempotent: creates the bucket when it does not exist, then makes sure it is versioned (every
# state Terraform wrote stays recoverable: "we recommend enabling Object Versioning",
# https://developer.hashicorp.com/terraform/language/backend/gcs), has uniform bucket-level access
# (IAM only, no object ACL: https://cloud.google.com/storage/docs/uniform-bucket-level-access) and
# public access prevention. An existing bucket that already has all three is left untouched.
# Terraform does not manage this bucket: it holds Terraform's own state, and `make destroy` keeps it.
set -euo pipefail
project=${1:?usage: infra-bootstrap.sh PROJECT REGION STATE_BUCKET}
region=${2:?usage: infra-bootstrap.sh PROJECT REGION STATE_BUCKET}
bucket=${3:?usage: infra-bootstrap.sh PROJECT REGION STATE_BUCKET}
url="gs://$bucket"
fields='value[separator="|"](versioning_enabled,uniform_bucket_level_access,public_access_prevention)'

describe() {
  gcloud storage buckets describe "$url" --project="$project" --format="$fields" 2>"$err"
}

err=$(mktemp)
trap 'rm -f "$err"' EXIT
if found=$(describe); then
  echo "==> Terraform state bucket $url exists"
else
  if ! grep -qiE "not found|404" "$err"; then
    # 403: the name is taken by a bucket of another project (names are global), or you may not
    # read it. Either way it cannot hold this project's state.
    cat "$err" >&2
    echo "error: cannot use $url for Terraform's state (above); pass STATE_BUCKET=<another name>" >&2
    exit 2
  fi
  echo "==> creating the Terraform state bucket $url in $project ($region): uniform access, no public access, versioned"
  gcloud storage buckets create "$url" --project="$project" --location="$region" \
    --uniform-bucket-level-access --public-access-prevention
  found=$(describe) || { cat "$err" >&2; exit 2; }
fi

IFS="|" read -r versioning uniform prevention <<<"$found"
if [ "${versioning,,}" = true ] && [ "${uniform,,}" = true ] && [ "$prevention" = enforced ]; then
  echo "    versioned, uniform access, public access prevented: nothing to change"
else
  echo "    versioning=${versioning:-off} uniform_access=${uniform:-off} public_access_prevention=${prevention:-inherited}: turning all three on"
  gcloud storage buckets update "$url" --project="$project" \
    --versioning --uniform-bucket-level-access --public-access-prevention
fi
echo "    Terraform keeps its state there: terraform -chdir=terraform init -backend-config=bucket=$bucket"
