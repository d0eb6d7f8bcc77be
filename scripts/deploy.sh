#!/usr/bin/env bash
# `make deploy` and Cloud Build's deploy step: run build TAG as the project's one streaming job.
#
#   PROJECT=.. REGION=.. TAG=<commit> TEMPLATES=gs://B/templates JOB_IMAGE=<image:TAG> \
#   SERVICE_ACCOUNT=.. BUCKET=.. SUBSCRIPTION=.. OUTPUT_TABLE=.. DLQ_TABLE=.. MACHINE_TYPE=.. \
#   MAX_WORKERS=.. [JOB=customers] [STRATEGY=update|replace] scripts/deploy.sh
#
# The job has one stable name, JOB (default `customers`): Dataflow updates a streaming job in
# place only by launching a replacement with the same name ("When set, the job name should be
# the same as the running job", LaunchFlexTemplateParameter.update,
# https://cloud.google.com/dataflow/docs/reference/rest/v1b3/projects.locations.flexTemplates/launch),
# and refuses a second active job of one name, so a stable name is also the guard against two
# jobs splitting one subscription. The job carries the label commit=TAG.
# - No active job of ours: start JOB.
# - JOB running, STRATEGY=update (default): update it in place ("Launch a replacement job",
#   https://cloud.google.com/dataflow/docs/guides/updating-a-pipeline) with the transform name
#   mappings the update contracts give, after checking that they allow it: the running build's
#   contract and TAG's (TEMPLATES/customers-<commit>.update/, written with the spec by
#   scripts/flex-template.sh) go to `python3 -m pipeline.update_contract --against --target`.
#   A verdict of replace, or a contract that cannot be read, refuses (exit 2): nothing changes.
# - STRATEGY=replace: drain every active job of ours (scripts/stop-job.sh, until DRAINED), then
#   start JOB: what it had read is written, what it had not stays in the subscription.
# - Another active job of ours (customers-<time> of an older make deploy, Terraform's
#   customer-stream) reads the same subscription and cannot be updated under JOB's name: only
#   STRATEGY=replace goes on.
# - TAG already running: nothing to do. `make deploy TAG=<older commit>` is the rollback, the same way.
# Then it waits for the new job to be running (DEPLOY_TIMEOUT s, default 900; STOP_POLL s between
# reads) and prints its state. Exit codes: 0 running, 1 failed, 2 refused, 3 timed out.
set -uo pipefail
missing=()
for name in PROJECT REGION TAG TEMPLATES JOB_IMAGE SERVICE_ACCOUNT BUCKET SUBSCRIPTION \
  OUTPUT_TABLE DLQ_TABLE MACHINE_TYPE MAX_WORKERS; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
[ ${#missing[@]} -eq 0 ] || { echo "error: scripts/deploy.sh needs ${missing[*]}" >&2; exit 2; }
job=${JOB:-customers}
strategy=${STRATEGY:-update}
timeout=${DEPLOY_TIMEOUT:-900}
poll=${STOP_POLL:-20}
ours=("$job" customers customer-stream)  # make stop-job's JOB_NAMES, and JOB
where=(--project="$PROJECT" --region="$REGION")
here=$(cd "$(dirname "$0")/.." && pwd)
template="$TEMPLATES/customers-$TAG.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

refuse() {
  echo "error: $*" >&2
  echo "==> nothing changed: no job was started, updated or stopped" >&2
  exit 2
}

case $strategy in
  update | replace) ;;
  *) refuse "STRATEGY=$strategy: it is update (the default) or replace" ;;
esac

# shellcheck source=scripts/dataflow-jobs.sh
. "$here/scripts/dataflow-jobs.sh"

# The update verdict of TAG onto a job running commit $1: the gcloud mappings on stdout, or
# status 1 with the reasons in $work/verdict.err.
verdict() {
  local running=$1 side commit folder
  for side in running target; do
    commit=$running
    [ "$side" = target ] && commit=$TAG
    folder=$TEMPLATES/customers-$commit.update
    mkdir -p "$work/$side"
    gcloud storage cp "$folder/update_contract.json" "$folder/update_mappings.json" \
      "$work/$side/" --project="$PROJECT" >/dev/null 2>&1 || {
      echo "cannot read the update contract of build $commit ($folder/): it was built before deploys checked contracts, or never" >"$work/verdict.err"
      return 1
    }
  done
  (cd "$here" && python3 -m pipeline.update_contract --against "$work/running/update_contract.json" \
    --target "$work/target/update_contract.json") >"$work/verdict" 2>"$work/verdict.err" || return 1
  [ "$(head -n 1 "$work/verdict")" = update ] || return 1
  # gcloud's --transform-name-mappings takes OLD=NEW,OLD=NEW (an ArgDict).
  python3 -c 'import json, sys; print(",".join(f"{o}={n}" for o, n in json.loads(sys.argv[1]).items()))' \
    "$(sed -n 2p "$work/verdict")"
}

launch() {
  local extra=("$@")
  gcloud dataflow flex-template run "$job" "${where[@]}" \
    --template-file-gcs-location="$template" \
    --service-account-email="$SERVICE_ACCOUNT" \
    --temp-location="gs://$BUCKET/temp" --staging-location="gs://$BUCKET/staging" \
    --enable-streaming-engine --worker-machine-type="$MACHINE_TYPE" --max-workers="$MAX_WORKERS" \
    --additional-user-labels="commit=$TAG" \
    --parameters="input_subscription=$SUBSCRIPTION" \
    --parameters="output_table=$OUTPUT_TABLE,dlq_table=$DLQ_TABLE" \
    --parameters=create_disposition=CREATE_NEVER \
    --parameters="sdk_container_image=$JOB_IMAGE" \
    "${extra[@]}" --format='value(job.id)'
}

# Polls job $1 until it runs or stops; prints each state; the status says which.
wait_running() {
  local id=$1 state start=$SECONDS
  while :; do
    state=$(job_state "$id")
    echo "    [$((SECONDS - start)) s] $id $job: $state"
    case $state in
      JOB_STATE_RUNNING) return 0 ;;
      JOB_STATE_PENDING | JOB_STATE_QUEUED | "") ;;
      *) return 1 ;;
    esac
    [ $((SECONDS - start)) -ge "$timeout" ] && return 3
    sleep "$poll"
  done
}

echo "==> Dataflow job $job in $PROJECT/$REGION: $SUBSCRIPTION -> $OUTPUT_TABLE"
echo "    build $TAG: launcher and workers $JOB_IMAGE, spec $template"
gcloud storage objects describe "$template" --project="$PROJECT" >/dev/null 2>&1 ||
  refuse "no Flex Template spec $template: commit $TAG was not built; run make build (or pass TAG=<a built commit>)"
listed=$(gcloud dataflow jobs list "${where[@]}" --status=active \
  --format='value[separator="|"](id,name,state)') ||
  refuse "could not list the Dataflow jobs of $PROJECT in $REGION (above)"
running_id='' running_state='' others=()
while IFS='|' read -r id name state; do
  [ -n "$id" ] && job_is_ours "$name" "${ours[@]}" || continue
  echo "    active: $id $name $state"
  if [ "$name" = "$job" ]; then running_id=$id running_state=$state; else others+=("$id $name"); fi
done <<<"$listed"

update=()
if [ "$strategy" = replace ] && { [ -n "$running_id" ] || [ ${#others[@]} -gt 0 ]; }; then
  echo "==> STRATEGY=replace: draining every active job of ours first, then starting $job"
  STOP_POLL=$poll "$here/scripts/stop-job.sh" "$PROJECT" "$REGION" "${ours[@]}" || {
    stopped=$?
    echo "error: the old job has not drained (above): $job was not started, so that no two jobs read $SUBSCRIPTION; run make deploy STRATEGY=replace again once it has" >&2
    exit "$stopped"
  }
  action=replaced
elif [ ${#others[@]} -gt 0 ]; then
  refuse "${others[*]} reads $SUBSCRIPTION too and cannot be updated in place under the name $job: deploy with STRATEGY=replace (it drains it, then starts $job)"
elif [ -z "$running_id" ]; then
  action=started
elif [ "$running_state" != Running ]; then
  refuse "$job ($running_id) is $running_state: only a running job can be updated; wait for it, or deploy with STRATEGY=replace"
else
  running_tag=$(gcloud dataflow jobs describe "$running_id" "${where[@]}" --full \
    --format='value(labels.commit)')
  if [ "$running_tag" = "$TAG" ]; then
    echo "==> $job ($running_id) runs build $TAG already: nothing to do"
    exit 0
  fi
  echo "==> $job ($running_id) runs build ${running_tag:-<unlabelled>}: checking that $TAG can update it in place"
  mappings=$(verdict "${running_tag:-unlabelled}") ||
    refuse "build $TAG cannot update $job in place (pipeline/update_contract.py):
$(cat "$work/verdict.err")
deploy with STRATEGY=replace: it drains $job (all it read is written), then starts $TAG"
  update=(--update)
  [ -n "$mappings" ] && update+=("--transform-name-mappings=$mappings")
  echo "    update in place${mappings:+, transform name mappings $mappings}"
  action=updated
fi

new_id=$(launch "${update[@]}") || { echo "error: Dataflow refused the launch (above)" >&2; exit 2; }
echo "==> $action: $job is job $new_id (build $TAG); waiting until it runs (DEPLOY_TIMEOUT=$timeout s)"
wait_running "$new_id"
status=$?
if [ "$action" = updated ]; then
  echo "    replaced job $running_id: $(job_state "$running_id")"
fi
case $status in
  0) echo "==> $job ($new_id) is running build $TAG" ;;
  3) echo "error: $job ($new_id) not running after DEPLOY_TIMEOUT=$timeout s: see the Dataflow console" >&2 ;;
  *)
    echo "error: $job ($new_id) did not start (its state is above): see its logs in the Dataflow console" >&2
    # Dataflow's own compatibility check fails the replacement, and the old job goes on.
    [ "$action" = updated ] && echo "    an update that fails leaves $running_id running its build" >&2
    ;;
esac
exit "$status"
