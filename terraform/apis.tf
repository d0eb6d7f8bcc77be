locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerydatapolicy.googleapis.com",   # data masking policies (privacy.tf)
    "bigquerydatatransfer.googleapis.com", # the scheduled query of erasures (erasure.tf)
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project-level IAM bindings
    "compute.googleapis.com",              # Dataflow workers are Compute Engine VMs
    "datacatalog.googleapis.com",          # the policy-tag taxonomy (privacy.tf)
    "dataflow.googleapis.com",
    "iam.googleapis.com", # service accounts
    "logging.googleapis.com",
    "monitoring.googleapis.com", # alert policies, notification channel, dashboard (monitoring.tf)
    "pubsub.googleapis.com",
    "serviceusage.googleapis.com", # google_project_service_identity (generateServiceIdentity)
    "storage.googleapis.com",
  ])
  labels = merge({ app = var.name, managed-by = "terraform" }, var.labels)
}

# Every other resource depends on this one, directly or through a resource it references, so a
# first `terraform apply` on an empty project never calls an API before it is enabled
# (tests/static/test_terraform.py checks it for every resource type).
resource "google_project_service" "required" {
  for_each = local.services

  service = each.value
  # Other workloads in the project may use the same APIs: never switch them off on destroy.
  disable_on_destroy = false
}

# Google-managed service agents are created lazily, on a service's first use; an IAM binding or a
# trigger that needs one on a fresh project would fail. Creating the identity first makes it exist.
resource "google_project_service_identity" "dataflow" {
  provider = google-beta
  service  = "dataflow.googleapis.com"

  depends_on = [google_project_service.required]
}

# Cloud Build's agent mints the tokens of the build service account a trigger runs as.
resource "google_project_service_identity" "cloudbuild" {
  provider = google-beta
  service  = "cloudbuild.googleapis.com"

  depends_on = [google_project_service.required]
}

# The Data Transfer Service's agent runs the erasure scheduled query as its service account.
resource "google_project_service_identity" "bigquery_data_transfer" {
  provider = google-beta
  service  = "bigquerydatatransfer.googleapis.com"

  depends_on = [google_project_service.required]
}
