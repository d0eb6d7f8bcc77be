# One bucket, four prefixes, each written by one principal only (terraform/iam.tf):
#   templates/  Flex Template specs, customers-<commit>.json: the build service account
#   source/     source archives of `make build`: you (gcloud builds submit); the build reads them
#   temp/, staging/  Dataflow's files (launcher and workers): the Dataflow service account
resource "google_storage_bucket" "dataflow" {
  #checkov:skip=CKV_GCP_62:Access logs of a bucket that holds only build artifacts and Dataflow temp files add cost, not audit value; Cloud Audit Logs record admin access.
  name                        = "${var.project_id}-${var.name}"
  location                    = var.region
  uniform_bucket_level_access = true # IAM Conditions on object prefixes need it
  public_access_prevention    = "enforced"
  force_destroy               = var.delete_data # objects and their old versions go with the bucket
  labels                      = local.labels

  # Versioning keeps any object a principal overwrites or deletes, for 30 days.
  versioning {
    enabled = true
  }

  # staging/ is never aged out: every worker a streaming job starts, for as long as it runs, reads
  # the files the launcher staged there (the race between lifecycle deletion and a running job
  # that apache/beam#41258 works around by re-staging files older than a day).
  lifecycle_rule {
    condition {
      age            = var.temp_files_retention_days
      matches_prefix = ["temp/", "source/"]
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
