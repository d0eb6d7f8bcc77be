resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption keys; a CMEK is an organisation-level choice, add kms_key_name when one exists.
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "Images of the customer stream: customer-pipeline (Flex Template + Dataflow SDK container) and customer-producer, tagged with the commit they were built from."
  labels        = local.labels

  # A tag, once pushed, can never be moved or deleted: customer-pipeline:<commit> is the same
  # image for the launcher and every worker a job ever starts (autoscaling pulls it again).
  docker_config {
    immutable_tags = true
  }

  # Cleanup never deletes a tagged version, so never the image of a running job, however old.
  # Only UNTAGGED versions go: leftovers of an interrupted push, which no tag (and so no job)
  # refers to. cloudbuild.yaml pushes single-platform images (docker build + docker push, no image
  # index), so no tagged image has untagged child manifests this rule could take away.
  # A DELETE rule applies to every version it matches unless a KEEP rule matches too:
  # https://cloud.google.com/artifact-registry/docs/repositories/cleanup-policy-overview
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "604800s" # 7 days: a push still in progress is never touched
    }
  }

  depends_on = [google_project_service.required]
}
