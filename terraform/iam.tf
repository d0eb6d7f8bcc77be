# Least privilege: one service account per program, every role bound on the one resource it needs
# (topic, subscription, dataset, bucket prefix, repository); project-level roles only where Google
# offers no narrower scope, and never a primitive role (owner/editor/viewer).

resource "google_service_account" "producer" {
  account_id   = "${var.name}-producer"
  display_name = "Customer stream producer: publishes to the customers topic only"

  depends_on = [google_project_service.required]
}

resource "google_service_account" "dataflow" {
  account_id   = "${var.name}-dataflow"
  display_name = "Customer stream Dataflow launcher and workers"

  depends_on = [google_project_service.required]
}

resource "google_service_account" "cloudbuild" {
  account_id   = "${var.name}-build"
  display_name = "Customer stream Cloud Build: test, build, push, write the template"

  depends_on = [google_project_service.required]
}

# Bucket prefixes are scoped with IAM Conditions on the object name, which for Cloud Storage is
# projects/_/buckets/BUCKET/objects/OBJECT (https://cloud.google.com/iam/docs/conditions-resource-attributes;
# Google's startsWith sample: https://cloud.google.com/storage/docs/samples/storage-add-bucket-conditional-iam-binding;
# conditions need uniform bucket-level access). Listing and buckets.get are checked on the bucket
# itself, which such a condition never matches: legacyBucketReader grants those, unconditionally.
locals {
  objects = "projects/_/buckets/${google_storage_bucket.dataflow.name}/objects"
}

# ---------------------------------------------------------------- producer
resource "google_pubsub_topic_iam_member" "producer_publisher" {
  topic  = google_pubsub_topic.customers.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.producer.member
}

# ---------------------------------------------------------------- Dataflow (launcher VM + workers)
# The job only reads an existing subscription (input_subscription): input_topic mode, which would
# need pubsub.subscriptions.create, is refused on Dataflow by the pipeline.
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

# The launcher stages the pipeline to staging/, workers read it and write temp/ files
# (https://cloud.google.com/dataflow/docs/guides/templates/run-flex-templates).
# Nothing else: in particular never templates/, so a worker cannot rewrite a spec a deploy launches.
resource "google_storage_bucket_iam_member" "dataflow_temp_staging" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.dataflow.member

  condition {
    title       = "temp-and-staging-only"
    description = "Dataflow's temp/ and staging/ files, nothing else in the bucket."
    expression  = "resource.name.startsWith(\"${local.objects}/temp/\") || resource.name.startsWith(\"${local.objects}/staging/\")"
  }
}

# The launcher VM runs as this account and reads the template spec it was started from.
resource "google_storage_bucket_iam_member" "dataflow_templates_reader" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.dataflow.member

  condition {
    title       = "templates-read-only"
    description = "Read the Flex Template specs; writing them is the build's alone."
    expression  = "resource.name.startsWith(\"${local.objects}/templates/\")"
  }
}

# Beam checks that the temp/staging bucket exists (storage.buckets.get) and lists what it staged.
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

# ---------------------------------------------------------------- service agents
# apis.tf creates the Dataflow and Cloud Build agents on request, and an agent created on request
# is granted no role: "you must grant the service agents the roles that they are typically granted
# automatically" (https://cloud.google.com/iam/docs/create-service-agents; the roles:
# https://cloud.google.com/iam/docs/service-agents): without them a first job or build may fail.
resource "google_project_iam_member" "dataflow_agent" {
  #checkov:skip=CKV_GCP_49:the role Google itself grants Dataflow's own agent (it acts as the job's service account to start the workers); no principal of ours gets it.
  project = var.project_id
  role    = "roles/dataflow.serviceAgent" # a service agent role exists only at project level
  member  = google_project_service_identity.dataflow.member
}

resource "google_project_iam_member" "cloudbuild_agent" {
  #checkov:skip=CKV_GCP_49:the role Google itself grants Cloud Build's own agent (it mints the build service account's tokens); no principal of ours gets it.
  project = var.project_id
  role    = "roles/cloudbuild.serviceAgent"
  member  = google_project_service_identity.cloudbuild.member
}

# ---------------------------------------------------------------- Dataflow service agent
# The launch request names a spec in this bucket. Google's pages do not say whether the service
# (its agent) or the launcher VM (the job's account, above) reads it, so both may read templates/.
resource "google_storage_bucket_iam_member" "dataflow_agent_templates_reader" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectViewer"
  member = google_project_service_identity.dataflow.member

  condition {
    title       = "templates-read-only"
    description = "Read the Flex Template specs a launch request names."
    expression  = "resource.name.startsWith(\"${local.objects}/templates/\")"
  }
}

# ---------------------------------------------------------------- Cloud Build
resource "google_artifact_registry_repository_iam_member" "cloudbuild_writer" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.cloudbuild.member
}

# The build writes templates/customers-<commit>.json: the only principal that may.
resource "google_storage_bucket_iam_member" "cloudbuild_templates" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.cloudbuild.member

  condition {
    title       = "templates-only"
    description = "Flex Template specs, nothing else in the bucket."
    expression  = "resource.name.startsWith(\"${local.objects}/templates/\")"
  }
}

# `make build` uploads the source archive to source/ as you; the build fetches it from there.
resource "google_storage_bucket_iam_member" "cloudbuild_source_reader" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.cloudbuild.member

  condition {
    title       = "source-read-only"
    description = "Read the source archives of make build."
    expression  = "resource.name.startsWith(\"${local.objects}/source/\")"
  }
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

# Continuous delivery (continuous_delivery = update or replace): cloudbuild.yaml's deploy step runs
# scripts/deploy.sh as the build account, which then lists, launches, updates and drains the job
# (roles/dataflow.developer: "Provides the permissions necessary to execute and manipulate
# Dataflow jobs", granted per project only) and launches it as the worker account (actAs:
# https://cloud.google.com/dataflow/docs/concepts/security-and-permissions#worker-service-account).
# Neither exists while delivery is off.
resource "google_project_iam_member" "cloudbuild_dataflow_developer" {
  count   = var.continuous_delivery == "off" ? 0 : 1
  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = google_service_account.cloudbuild.member
}

resource "google_service_account_iam_member" "cloudbuild_acts_as_dataflow" {
  count              = var.continuous_delivery == "off" ? 0 : 1
  service_account_id = google_service_account.dataflow.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.cloudbuild.member
}
