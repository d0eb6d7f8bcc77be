# One bucket for the Flex Template spec (templates/), Dataflow's temp/ and staging/ files, and the
# source archives of `make build` (source/).
resource "google_storage_bucket" "dataflow" {
  #checkov:skip=CKV_GCP_62:Access logs of a bucket that holds only build artifacts and Dataflow temp files add cost, not audit value; Cloud Audit Logs record admin access.
  name                        = "${var.project_id}-${var.name}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  # Versioning keeps the previous template spec when a build overwrites it.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age            = var.temp_files_retention_days
      matches_prefix = ["temp/", "staging/", "source/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}
