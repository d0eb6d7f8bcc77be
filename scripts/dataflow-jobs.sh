# Sourced by scripts/stop-job.sh and scripts/deploy.sh, so both agree on which jobs are ours.
# Both set `where` (--project=.. --region=..) before calling these.

# Whether job name $1 is one of the names after it, or one of them plus -<anything> (the
# customers-<time> jobs of an older make deploy).
job_is_ours() {
  local name=$1 prefix
  shift
  for prefix; do
    [[ $name == "$prefix" || $name == "$prefix"-* ]] && return 0
  done
  return 1
}

# The current state of job $1, as Dataflow reports it (JOB_STATE_...).
job_state() {
  gcloud dataflow jobs describe "$1" "${where[@]}" --format='value(currentState)'
}
