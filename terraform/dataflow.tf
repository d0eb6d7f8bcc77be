locals {
  image_repository = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  pipeline_image   = "${local.image_repository}/customer-pipeline"
  producer_image   = "${local.image_repository}/customer-producer"
  templates        = "gs://${google_storage_bucket.dataflow.name}/templates"
  output_table     = "${var.project_id}:${google_bigquery_dataset.customers.dataset_id}.${google_bigquery_table.tables["customers"].table_id}"
  dlq_table        = "${var.project_id}:${google_bigquery_dataset.customers.dataset_id}.${google_bigquery_table.tables["customers_dlq"].table_id}"
  # One immutable reference per job: cloudbuild.yaml writes templates/customers-<commit>.json with
  # the launcher image customer-pipeline:<commit>, and the workers run that same image.
  job_image    = "${local.pipeline_image}:${var.image_tag}"
  job_template = "${local.templates}/customers-${var.image_tag}.json"
}

# Optional: let Terraform run the job (deploy_job = true, image_tag = a built commit) instead of
# `make deploy`. The template spec and the image of that commit must exist first (make build).
# Destroying it drains the job: no message lost.
resource "google_dataflow_flex_template_job" "customers" {
  count    = var.deploy_job ? 1 : 0
  provider = google-beta

  name                    = var.name
  region                  = var.region
  container_spec_gcs_path = local.job_template
  sdk_container_image     = local.job_image
  service_account_email   = google_service_account.dataflow.email
  temp_location           = "gs://${google_storage_bucket.dataflow.name}/temp"
  staging_location        = "gs://${google_storage_bucket.dataflow.name}/staging"
  enable_streaming_engine = true
  machine_type            = var.machine_type
  max_workers             = var.max_workers
  on_delete               = "drain"
  labels                  = local.labels

  parameters = {
    input_subscription = google_pubsub_subscription.dataflow.id
    output_table       = local.output_table
    dlq_table          = local.dlq_table
    create_disposition = "CREATE_NEVER" # Terraform owns the tables
  }

  lifecycle {
    precondition {
      condition     = var.image_tag != ""
      error_message = "deploy_job = true needs image_tag = the full commit SHA of a build (make build; git rev-parse HEAD)."
    }
  }

  depends_on = [
    google_project_iam_member.dataflow_agent,
    google_project_iam_member.dataflow_worker,
    google_pubsub_subscription_iam_member.dataflow_subscriber,
    google_pubsub_subscription_iam_member.dataflow_viewer,
    google_bigquery_dataset_iam_member.dataflow_editor,
    google_storage_bucket_iam_member.dataflow_temp_staging,
    google_storage_bucket_iam_member.dataflow_templates_reader,
    google_storage_bucket_iam_member.dataflow_agent_templates_reader,
    google_storage_bucket_iam_member.dataflow_bucket_reader,
    google_artifact_registry_repository_iam_member.dataflow_reader,
  ]
}
