# Read by the Makefile (`terraform -chdir=terraform output -raw NAME`).

output "project_id" {
  description = "Project of every resource."
  value       = var.project_id
}

output "region" {
  description = "Region of the Dataflow job, the repository and the bucket."
  value       = var.region
}

output "topic" {
  description = "Full topic path the producer publishes to."
  value       = google_pubsub_topic.customers.id
}

output "topic_name" {
  description = "Topic ID (the producer's --topic)."
  value       = google_pubsub_topic.customers.name
}

output "subscription" {
  description = "Full subscription path: the pipeline's input_subscription."
  value       = google_pubsub_subscription.dataflow.id
}

output "output_table" {
  description = "The pipeline's output_table (PROJECT:DATASET.TABLE)."
  value       = local.output_table
}

output "dlq_table" {
  description = "The pipeline's dlq_table (PROJECT:DATASET.TABLE)."
  value       = local.dlq_table
}

output "replays_table" {
  description = "Where `make replay` records replayed dead letters (PROJECT:DATASET.TABLE)."
  value       = "${var.project_id}:${google_bigquery_dataset.customers.dataset_id}.${google_bigquery_table.tables["customers_dlq_replays"].table_id}"
}

output "erasures_table" {
  description = "Where `make forget` records erasure requests (PROJECT:DATASET.TABLE)."
  value       = "${var.project_id}:${google_bigquery_dataset.customers.dataset_id}.${google_bigquery_table.tables["erasure_requests"].table_id}"
}

output "erasure_service_account" {
  description = "Service account the erasure scheduled query runs as."
  value       = google_service_account.erasure.email
}

output "bucket" {
  description = "Bucket of the template spec and Dataflow's temp/staging files."
  value       = google_storage_bucket.dataflow.name
}

output "templates" {
  description = "Where cloudbuild.yaml writes one Flex Template spec per commit, customers-<commit>.json."
  value       = local.templates
}

output "temp_location" {
  description = "Dataflow temp_location."
  value       = "gs://${google_storage_bucket.dataflow.name}/temp"
}

output "staging_location" {
  description = "Dataflow staging_location."
  value       = "gs://${google_storage_bucket.dataflow.name}/staging"
}

output "repository" {
  description = "Artifact Registry repository ID (cloudbuild.yaml's _REPOSITORY)."
  value       = google_artifact_registry_repository.images.repository_id
}

output "pipeline_image" {
  description = "Pipeline image without tag (tags are commit SHAs): Flex Template launcher and sdk_container_image."
  value       = local.pipeline_image
}

output "producer_image" {
  description = "Producer image without tag (tags are commit SHAs)."
  value       = local.producer_image
}

output "producer_service_account" {
  description = "Service account to run the producer as (publish to the topic only)."
  value       = google_service_account.producer.email
}

output "dataflow_service_account" {
  description = "Service account of the Dataflow launcher and workers (--service-account-email)."
  value       = google_service_account.dataflow.email
}

output "dataflow_service_agent" {
  description = "Google-managed Dataflow service agent of the project (reads templates/)."
  value       = google_project_service_identity.dataflow.email
}

output "cloudbuild_service_account" {
  description = "Service account Cloud Build runs as (make build, the trigger)."
  value       = google_service_account.cloudbuild.id
}
