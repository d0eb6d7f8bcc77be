#!/usr/bin/env bash
# `terraform init` for make infra and make destroy: the state in the project's bucket, or local.
#
#   scripts/terraform-init.sh PROJECT REGION STATE_BUCKET LOCAL_STATE
#
# LOCAL_STATE=1 (a throw-away project): local_backend_override.tf replaces the gcs backend by a
# local state file, terraform/terraform.tfstate ("the backend block in an override file replaces
# the original", https://developer.hashicorp.com/terraform/language/files/override). Otherwise the
# state bucket is bootstrapped (scripts/infra-bootstrap.sh) and named to the gcs backend. A local
# state that was never moved into the bucket stops it: Terraform would plan to create again
# everything that local state holds. Once moved (init -migrate-state recorded the gcs backend in
# .terraform/), the local file is only the copy it was.
set -euo pipefail
project=${1:?usage: terraform-init.sh PROJECT REGION STATE_BUCKET LOCAL_STATE}
region=${2:?usage: terraform-init.sh PROJECT REGION STATE_BUCKET LOCAL_STATE}
bucket=${3:?usage: terraform-init.sh PROJECT REGION STATE_BUCKET LOCAL_STATE}
local_state=${4:-0}
scripts=$(cd "$(dirname "$0")" && pwd)
cd "$scripts/../terraform"
override=local_backend_override.tf

if [ "$local_state" = 1 ]; then
  echo "==> Terraform state: terraform/terraform.tfstate on this machine only (LOCAL_STATE=1)"
  printf '%s\n' "# Written by make infra LOCAL_STATE=1 (scripts/terraform-init.sh); not committed." \
    'terraform {' '  backend "local" {}' '}' >"$override"
  exec terraform init -input=false -reconfigure
fi

rm -f "$override"
migrated() { grep -qs '"type": "gcs"' .terraform/terraform.tfstate; }
if [ -f terraform.tfstate ] && grep -q '"instances"' terraform.tfstate && ! migrated; then
  cat >&2 <<MSG
error: terraform/terraform.tfstate holds resources of a local state. Either move it into the
state bucket once (Terraform copies it and asks you to confirm):
  make infra-bootstrap PROJECT=$project
  terraform -chdir=terraform init -migrate-state -backend-config=bucket=$bucket
or keep it local with LOCAL_STATE=1.
MSG
  exit 2
fi
"$scripts/infra-bootstrap.sh" "$project" "$region" "$bucket"
terraform init -input=false -reconfigure -backend-config="bucket=$bucket"
