# Builds on every push to trigger_branch: tests, both images tagged with the commit, the Flex
# Template spec templates/customers-<commit>.json (cloudbuild.yaml). Created only when the GitHub repository is connected (github_owner set).
# With continuous_delivery = update or replace it then deploys the build (cloudbuild.yaml's
# deploy step, scripts/deploy.sh: what make deploy does), with the substitutions below.
resource "google_cloudbuild_trigger" "main" {
  count = var.github_owner == "" ? 0 : 1

  name            = "${var.name}-main"
  location        = "global"
  description     = "Test, build and push both images, then write the Flex Template spec."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.cloudbuild.id

  github {
    owner = var.github_owner
    name  = var.github_repo
    push {
      branch = var.trigger_branch
    }
  }

  substitutions = {
    _REGION     = var.region
    _REPOSITORY = google_artifact_registry_repository.images.repository_id
    _BUCKET     = google_storage_bucket.dataflow.name
    # the deploy step's (cloudbuild.yaml): off unless continuous_delivery says otherwise
    _DEPLOY       = var.continuous_delivery
    _SUBSCRIPTION = google_pubsub_subscription.dataflow.id
    _OUTPUT_TABLE = local.output_table
    _DLQ_TABLE    = local.dlq_table
    _DATAFLOW_SA  = google_service_account.dataflow.email
    _MACHINE_TYPE = var.machine_type
    _MAX_WORKERS  = tostring(var.max_workers)
  }

  depends_on = [
    google_project_service.required,
    google_project_service_identity.cloudbuild,
    google_project_iam_member.cloudbuild_agent,
    google_project_iam_member.cloudbuild_logs,
    google_artifact_registry_repository_iam_member.cloudbuild_writer,
    google_storage_bucket_iam_member.cloudbuild_templates,
    google_storage_bucket_iam_member.cloudbuild_source_reader,
    google_storage_bucket_iam_member.cloudbuild_bucket_reader,
    google_project_iam_member.cloudbuild_dataflow_developer,
    google_service_account_iam_member.cloudbuild_acts_as_dataflow,
  ]
}
