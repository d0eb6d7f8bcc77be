locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com", # Dataflow workers are Compute Engine VMs
    "dataflow.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com", # alert policies, notification channel, dashboard (monitoring.tf)
    "pubsub.googleapis.com",
    "storage.googleapis.com",
  ])
  labels = merge({ app = var.name, managed-by = "terraform" }, var.labels)
}

resource "google_project_service" "required" {
  for_each = local.services

  service = each.value
  # Other workloads in the project may use the same APIs: never switch them off on destroy.
  disable_on_destroy = false
}
