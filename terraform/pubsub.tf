resource "google_pubsub_topic" "customers" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption keys; a CMEK is an organisation-level choice, set kms_key_name when one exists.
  name   = var.topic_name
  labels = local.labels

  depends_on = [google_project_service.required]
}

# The subscription the Dataflow job reads. No dead_letter_policy and no retry_policy: Pub/Sub's
# "Handling message failures" page (https://cloud.google.com/pubsub/docs/handling-failures) says
# Dataflow does not support them. Dataflow acks a message only once the first fused stage has
# durably committed it, so Pub/Sub never sees a failed delivery it could count or back off; every
# message the pipeline cannot use goes to the customers_dlq table, the one dead-letter path.
resource "google_pubsub_subscription" "dataflow" {
  name                       = "${var.topic_name}-dataflow"
  topic                      = google_pubsub_topic.customers.id
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  retain_acked_messages      = false
  labels                     = local.labels

  expiration_policy {
    ttl = "" # never expires, however long the pipeline is stopped
  }
}
