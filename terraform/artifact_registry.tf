resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption keys; a CMEK is an organisation-level choice, add kms_key_name when one exists.
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "Images of the customer stream: customer-pipeline (Flex Template + Dataflow SDK container) and customer-producer."
  labels        = local.labels

  # Every commit pushes two images; keep the latest and the ten most recent versions only.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
  cleanup_policies {
    id     = "keep-latest"
    action = "KEEP"
    condition {
      tag_state    = "TAGGED"
      tag_prefixes = ["latest"]
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.required]
}
