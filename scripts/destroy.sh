#!/usr/bin/env bash
# `make destroy` after `make stop-job`: delete what Terraform created, keep the data by default.
#
#   scripts/destroy.sh PROJECT REGION STATE_BUCKET LOCAL_STATE
#
# Default: destroys, with -target, every resource of the state except those listed in
# terraform/kept-by-destroy.txt (the dataset, tables, views, bucket and the privacy resources
# the tables depend on). Those keep their protection, so the destroy never meets it.
# DELETE_DATA=1: destroys everything. After a typed confirmation naming the tables and the bucket,
# one targeted apply of delete_data=true, deletion_protection=false lifts their protection (Terraform-side settings only:
# no API call), then the destroy runs. With nothing left to destroy it says so and exits 0.
# Plans are shown before anything is deleted; AUTO_APPROVE=1 skips the [y/N] of the default.
set -euo pipefail
project=${1:?usage: destroy.sh PROJECT REGION STATE_BUCKET LOCAL_STATE}
region=${2:?usage: destroy.sh PROJECT REGION STATE_BUCKET LOCAL_STATE}
bucket=${3:?usage: destroy.sh PROJECT REGION STATE_BUCKET LOCAL_STATE}
local_state=${4:-0}
cd "$(dirname "$0")/.."
tf=(terraform -chdir=terraform)
vars=(-input=false -var="project_id=$project" -var="region=$region")
plan=destroy.tfplan

scripts/terraform-init.sh "$project" "$region" "$bucket" "$local_state"
listed=$("${tf[@]}" state list)  # a state it cannot read stops here, not as "nothing"
mapfile -t instances < <(printf '%s\n' "$listed" | grep -v -e '^data\.' -e '^$' || true)
if [ ${#instances[@]} -eq 0 ]; then
  echo "==> nothing to destroy: Terraform's state of $project holds no resource (destroyed already, or never applied)"
  exit 0
fi
mapfile -t kept < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' terraform/kept-by-destroy.txt)
is_kept() {
  local address=${1%%\[*} entry
  for entry in "${kept[@]}"; do [ "$address" = "$entry" ] && return 0; done
  return 1
}

confirm_default() {
  [ "${AUTO_APPROVE:-0}" = 1 ] && return 0
  read -r -p "Destroy these resources of project $project? [y/N] " ok
  [ "$ok" = y ] || { echo "nothing destroyed"; exit 1; }
}

if [ "${DELETE_DATA:-0}" != 1 ]; then
  targets=() keeping=()
  for address in "${instances[@]}"; do
    if is_kept "$address"; then keeping+=("$address"); else targets+=(-target="$address"); fi
  done
  if [ ${#targets[@]} -eq 0 ]; then
    echo "==> nothing to destroy in $project: only what make destroy keeps is left (${#keeping[@]} resources: the data, its privacy resources, the APIs)."
    echo "    make destroy PROJECT=$project DELETE_DATA=1 deletes the data too."
    exit 0
  fi
  echo "==> keeping ${#keeping[@]} resources (terraform/kept-by-destroy.txt): the dataset, tables and their rows, views, bucket, policy tags; destroying ${#targets[@]}:"
  "${tf[@]}" plan -destroy "${vars[@]}" "${targets[@]}" -out="$plan"
  confirm_default
  "${tf[@]}" apply -input=false "$plan"
  rm -f "terraform/$plan"
  echo "==> destroyed. Kept: ${keeping[*]}"
  echo "    A second make destroy does nothing; make destroy DELETE_DATA=1 deletes the data too."
  exit 0
fi

# The resources whose protection terraform/*.tf ties to var.delete_data or var.deletion_protection.
mapfile -t protected < <(awk '/^resource "/ {gsub(/"/, ""); r = $2 "." $3} /var\.(delete_data|deletion_protection)/ {print r}' terraform/*.tf | sort -u)
lift=(-var=delete_data=true -var=deletion_protection=false)
dataset_table=$("${tf[@]}" output -raw output_table)  # PROJECT:DATASET.TABLE
dataset=${dataset_table#*:}
dataset=${dataset%%.*}
data_bucket=$("${tf[@]}" output -raw bucket)
tables=$(printf '%s\n' "${instances[@]}" | sed -n 's/^google_bigquery_table\.\(tables\|views\)\["\(.*\)"\]$/\2/p' | paste -sd, -)
"${tf[@]}" plan -destroy "${vars[@]}" "${lift[@]}" -out="$plan"
echo "==> DELETE_DATA=1 deletes, with everything above, for good:"
echo "    BigQuery dataset $project:$dataset and every table in it, rows included: $tables"
echo "    bucket gs://$data_bucket and every object in it (Flex Template specs, staging files), old versions included"
read -r -p "Type the project id ($project) to delete them: " typed
[ "$typed" = "$project" ] || { echo "not confirmed: nothing deleted"; rm -f "terraform/$plan"; exit 1; }
echo "==> lifting the protection of: ${protected[*]}"
"${tf[@]}" apply "${vars[@]}" -auto-approve "${lift[@]}" "${protected[@]/#/-target=}"
"${tf[@]}" plan -destroy "${vars[@]}" "${lift[@]}" -out="$plan" >/dev/null
"${tf[@]}" apply -input=false "$plan"
rm -f "terraform/$plan"
echo "==> destroyed everything Terraform created in $project."
if [ "$local_state" != 1 ]; then
  echo "    The state bucket gs://$bucket stays, holding the now empty state; remove it with:"
  echo "    gcloud storage rm --recursive gs://$bucket"
fi
