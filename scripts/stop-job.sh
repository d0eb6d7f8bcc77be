#!/usr/bin/env bash
# `make stop-job`: stop the project's streaming job(s) so that nothing bills by the hour, and wait.
#
#   scripts/stop-job.sh PROJECT REGION NAME...
#
# Stops every active Dataflow job in PROJECT/REGION named NAME or NAME-<anything> (make deploy's
# customers-<time>, Terraform's deploy_job), then waits until each has stopped, printing its
# state at every poll. Other jobs are listed and left alone.
# - Default: drain. "Draining a job enables the Dataflow service to finish processing the
#   buffered data while simultaneously ceasing the ingestion of new data"
#   (https://cloud.google.com/dataflow/docs/guides/stopping-a-pipeline#drain): every message the
#   job has read ends as a row or a dead letter, and the unread ones stay in the subscription.
# - FORCE=1: cancel. "Canceling a job stops the Dataflow service from processing any data,
#   including buffered data" and may lose in-flight data (same page, #cancel).
# - A job not running yet (pending, queued) cannot be drained; it has read nothing, so it is
#   cancelled, which loses nothing.
# STOP_TIMEOUT (s, default 1800) bounds the wait, STOP_POLL (s, default 20) spaces the polls.
# Exit codes: 0 all stopped (or none was running), 2 a request was refused, 3 timed out.
set -uo pipefail
project=${1:?usage: stop-job.sh PROJECT REGION NAME...}
region=${2:?usage: stop-job.sh PROJECT REGION NAME...}
shift 2
names=("$@")
[ ${#names[@]} -gt 0 ] || { echo "usage: stop-job.sh PROJECT REGION NAME..." >&2; exit 2; }
timeout=${STOP_TIMEOUT:-1800}
poll=${STOP_POLL:-20}
force=${FORCE:-0}
where=(--project="$project" --region="$region")
terminal='JOB_STATE_(DONE|FAILED|CANCELLED|UPDATED|DRAINED)'

# shellcheck source=scripts/dataflow-jobs.sh
. "$(dirname "$0")/dataflow-jobs.sh"

# Ask for the stop of one job; echo what was asked (drain, cancel, or wait if one is under way).
stop_one() {
  local id=$1 state=$2 action=drain
  case $state in
    Draining | Cancelling | "Resource Cleaning Up") echo wait; return 0 ;;
    Running) [ "$force" = 1 ] && action=cancel ;;
    *) action=cancel ;;
  esac
  gcloud dataflow jobs "$action" "$id" "${where[@]}" >&2 || return 1
  echo "$action"
}

listed=$(gcloud dataflow jobs list "${where[@]}" --status=active \
  --format='value[separator="|"](id,name,state,creationTime)') || {
  echo "error: could not list the Dataflow jobs of $project in $region (above)" >&2
  exit 2
}
declare -a ids=()
declare -A name_of was action_of now_of
while IFS='|' read -r id name state created; do
  [ -n "$id" ] || continue
  if job_is_ours "$name" "${names[@]}"; then
    ids+=("$id")
    name_of[$id]=$name was[$id]=$state
    echo "==> active: $id $name $state (created $created UTC)"
  else
    echo "    not ours, left running: $id $name $state"
  fi
done <<<"$listed"
if [ ${#ids[@]} -eq 0 ]; then
  echo "==> no active job named ${names[*]} (or <name>-*) in $project/$region: nothing to stop"
  exit 0
fi

if [ "$force" = 1 ]; then
  echo "==> FORCE=1: cancelling. Messages a job has read but not yet written to BigQuery are LOST:"
  echo "    Pub/Sub has acknowledged them, so they are in neither the subscription nor a table."
fi
refused=0
for id in "${ids[@]}"; do
  if action=$(stop_one "$id" "${was[$id]}"); then
    action_of[$id]=$action
    echo "    $id: ${action/wait/already stopping: waiting}"
    [ "$action" = cancel ] && [ "${was[$id]}" != Running ] && echo "    $id was ${was[$id]}: it has read nothing, cancelling loses nothing"
  else
    echo "error: gcloud refused to stop $id ${name_of[$id]} (above)" >&2
    action_of[$id]=refused now_of[$id]=${was[$id]} refused=1
  fi
done

start=$SECONDS
while :; do
  waiting=0
  for id in "${ids[@]}"; do
    [ "${action_of[$id]}" = refused ] && continue
    [[ ${now_of[$id]:-} =~ ^$terminal$ ]] && continue
    now_of[$id]=$(job_state "$id") || now_of[$id]=unknown
    echo "    [$((SECONDS - start)) s] $id ${name_of[$id]}: ${now_of[$id]}"
    [[ ${now_of[$id]} =~ ^$terminal$ ]] || waiting=$((waiting + 1))
  done
  [ "$waiting" -eq 0 ] && break
  if [ $((SECONDS - start)) -ge "$timeout" ]; then break; fi
  sleep "$poll"
done

echo "==> $project/$region:"
status=$refused
for id in "${ids[@]}"; do
  echo "    $id ${name_of[$id]}: was ${was[$id]}, ${action_of[$id]/wait/waited} -> ${now_of[$id]}"
  if [ "${action_of[$id]}" != refused ] && ! [[ ${now_of[$id]} =~ ^$terminal$ ]]; then
    echo "    still ${now_of[$id]} after STOP_TIMEOUT=$timeout s: Dataflow goes on stopping it; run make stop-job again to wait (FORCE=1 cancels, losing in-flight data)" >&2
    status=3
  fi
done
[ "$refused" = 1 ] && status=2
exit "$status"
