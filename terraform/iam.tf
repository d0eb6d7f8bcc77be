# Least privilege: one service account per program, every role bound on the one resource it needs
# (topic, subscription, dataset, bucket, repository); project-level roles only where Google offers
# no narrower scope, and never a primitive role (owner/editor/viewer).

resource "google_service_account" "producer" {
  account_id   = "${var.name}-producer"
  display_name = "Customer stream producer: publishes to the customers topic only"
}

resource "google_service_account" "dataflow" {
  account_id   = "${var.name}-dataflow"
  display_name = "Customer stream Dataflow launcher and workers"
}

resource "google_service_account" "cloudbuild" {
  account_id   = "${var.name}-build"
  display_name = "Customer stream Cloud Build: test, build, push, write the template"
}

# ---------------------------------------------------------------- producer
resource "google_pubsub_topic_iam_member" "producer_publisher" {
  topic  = google_pubsub_topic.customers.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.producer.member
}

# ---------------------------------------------------------------- Dataflow (launcher VM + workers)
resource "google_project_iam_member" "dataflow_worker" {
  project = var.project_id
  role    = "roles/dataflow.worker" # exists only at project level
  member  = google_service_account.dataflow.member
}

resource "google_pubsub_subscription_iam_member" "dataflow_subscriber" {
  subscription = google_pubsub_subscription.dataflow.id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.dataflow.member
}

# Dataflow reads the subscription's settings (pubsub.subscriptions.get) before it pulls.
resource "google_pubsub_subscription_iam_member" "dataflow_viewer" {
  subscription = google_pubsub_subscription.dataflow.id
  role         = "roles/pubsub.viewer"
  member       = google_service_account.dataflow.member
}

resource "google_bigquery_dataset_iam_member" "dataflow_editor" {
  dataset_id = google_bigquery_dataset.customers.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.dataflow.member
}

resource "google_storage_bucket_iam_member" "dataflow_objects" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin" # temp/ and staging/ files, reading the template spec
  member = google_service_account.dataflow.member
}

# Beam checks that the temp/staging bucket exists (storage.buckets.get) before it writes.
resource "google_storage_bucket_iam_member" "dataflow_bucket_reader" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.dataflow.member
}

# The launcher VM and the workers pull customer-pipeline (launcher and sdk_container_image).
resource "google_artifact_registry_repository_iam_member" "dataflow_reader" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.dataflow.member
}

# ---------------------------------------------------------------- Cloud Build
resource "google_artifact_registry_repository_iam_member" "cloudbuild_writer" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.cloudbuild.member
}

resource "google_storage_bucket_iam_member" "cloudbuild_objects" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin" # writes templates/, reads the source/ archives of make build
  member = google_service_account.cloudbuild.member
}

resource "google_storage_bucket_iam_member" "cloudbuild_bucket_reader" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.cloudbuild.member
}

# A user-managed build service account must be allowed to write its own build logs.
resource "google_project_iam_member" "cloudbuild_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.cloudbuild.member
}

# ---------------------------------------------------------------- Pub/Sub service agent
# Dead-lettering: Pub/Sub's own agent publishes to the dead-letter topic and acks the original.
locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic_iam_member" "agent_dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscriber" {
  subscription = google_pubsub_subscription.dataflow.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
