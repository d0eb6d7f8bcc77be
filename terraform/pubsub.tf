resource "google_pubsub_topic" "customers" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption keys; a CMEK is an organisation-level choice, set kms_key_name when one exists.
  name   = var.topic_name
  labels = local.labels

  depends_on = [google_project_service.required]
}

# Messages Pub/Sub could not deliver max_delivery_attempts times. The pipeline dead-letters every
# message it can read but not use into BigQuery (customers_dlq); this topic is for the rest.
resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption keys, as for the customers topic.
  name   = "${var.topic_name}-dead-letter"
  labels = local.labels

  depends_on = [google_project_service.required]
}

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

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# A topic without a subscription drops what is published to it: this one keeps the dead letters.
resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.topic_name}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  labels                     = local.labels

  expiration_policy {
    ttl = ""
  }
}
