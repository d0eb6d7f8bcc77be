# Alerts and a dashboard for the running pipeline. Every metric type, label, aligner and reducer
# used here is checked by tests/static/test_monitoring.py against the Cloud Monitoring metrics list
# (https://cloud.google.com/monitoring/api/metrics_gcp_d_h#gcp-dataflow,
#  https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub). The runbook for each alert
# is the README's "Operate" section.
locals {
  job_filter = "resource.type = \"dataflow_job\" AND resource.label.job_name = monitoring.regex.full_match(\"${var.job_name_regex}\")"
  # PromQL selector of the pipeline's Beam counters (namespace `customers`, pipeline/metrics.py):
  # Dataflow exports each as dataflow.googleapis.com/job/user_counter, a GAUGE holding the job's
  # running total, with the counter's name in metric_name.
  user_counter = "\"__name__\"=\"dataflow.googleapis.com/job/user_counter\", \"monitored_resource\"=\"dataflow_job\", \"job_name\"=~\"${var.job_name_regex}\""

  notification_channels = concat(google_monitoring_notification_channel.email[*].id, var.notification_channels)
  runbook               = "Runbook: README.md, section \"Operate\" (customer-stream)."
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  display_name = "${var.name} alerts"
  type         = "email"
  labels       = { email_address = var.alert_email }
  user_labels  = local.labels

  depends_on = [google_project_service.required]
}

# Dead letters per minute, from the Beam counters dead_letters_{parse,validate,write}. The counter
# is a running total (a GAUGE), so PromQL's delta() over 5 minutes divided by 5 is the rate; BigQuery's
# own table statistics lag by hours and cannot serve here.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "${var.name}: dead letters"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "dead letters per minute above ${var.dead_letters_per_minute}"
    condition_prometheus_query_language {
      query               = "sum by (job_name) (delta({${local.user_counter}, \"metric_name\"=~\"dead_letters_(parse|validate|write)\"}[5m])) / 5 > ${var.dead_letters_per_minute}"
      duration            = "${var.alert_after_seconds}s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: messages are being dead-lettered"
    content   = "Dead letters are above ${var.dead_letters_per_minute}/min. Check the view dead_letters_last_day for the stage and error class. ${local.runbook}"
  }
}

# A dead letter BigQuery refused to store even reduced: the job retries that bundle until it can be
# stored (pipeline/sinks.py FailOnUnwritableFn), so part of the job stalls meanwhile. The Beam
# counter dead_letters_unwritable is incremented in that failing bundle, and the SDK harness
# returns a bundle's metrics only in a successful ProcessBundleResponse (Beam's sdk_worker.py
# SdkWorker.process_bundle: monitoring_infos are built after process_bundle returns; on an
# exception the bundle processor is discarded and the response carries only the error), so the
# counter may never reach Cloud Monitoring. The error itself does: the harness logs the
# traceback, whose last line is the UnwritableDeadLetter message, at ERROR in the worker's log.
# This log-based counter counts those entries (one per failed attempt, not per dead letter).
resource "google_logging_metric" "dead_letters_unwritable" {
  name        = "${var.name}-dead-letters-unwritable"
  description = "Failed attempts to store a dead letter BigQuery rejected even reduced (pipeline/sinks.py UnwritableDeadLetter)."
  filter      = "resource.type=\"dataflow_step\" AND logName=~\"/logs/dataflow.googleapis.com%2F(worker|harness)$\" AND severity>=ERROR AND \"BigQuery rejected the reduced dead letter\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.required]
}

# Cloud Monitoring knows a new log-based metric only minutes after Logging created it: an alert
# policy naming it in the same apply gets "Error 404: Cannot find metric(s) that match type = ...
# If a metric was created recently, it could take up to 10 minutes to become available"
# (hashicorp/terraform-provider-google#11102, open since 2022; the provider does not retry). So
# the policy waits those 10 minutes after the metric, and the first `make infra` succeeds in one
# run. time_sleep waits only when it is created: on the first apply, and again only when the
# metric is replaced (its id is a trigger), never on later applies.
resource "time_sleep" "log_metric_known_to_monitoring" {
  create_duration = "600s"
  triggers = {
    metric = google_logging_metric.dead_letters_unwritable.id
  }
}

resource "google_monitoring_alert_policy" "dead_letters_unwritable" {
  display_name          = "${var.name}: dead letter not stored"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "BigQuery rejected a reduced dead letter (worker log)"
    condition_threshold {
      # "The filter must specify the metric type and the resource type" (MetricThreshold.filter,
      # https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies). A
      # log-based metric's time series carry the monitored resource of the log entries it counts
      # ("Resource labels", https://cloud.google.com/logging/docs/logs-based-metrics/labels#default-labels):
      # the metric above counts only dataflow_step entries, the resource of Dataflow's worker logs.
      filter          = "resource.type = \"dataflow_step\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.dead_letters_unwritable.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  # The Beam counter as well, for the runner that does report it.
  conditions {
    display_name = "dead_letters_unwritable counter"
    condition_prometheus_query_language {
      query               = "sum by (job_name) (delta({${local.user_counter}, \"metric_name\"=\"dead_letters_unwritable\"}[10m])) > 0"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: a dead letter cannot be stored, part of the job stalls"
    content   = "BigQuery rejected a dead letter even in its reduced form; the job retries that bundle until it can be stored. ${local.runbook}"
  }

  depends_on = [time_sleep.log_metric_known_to_monitoring]
}

# BigQuery refused to store what the pipeline wrote. dead_letters_write: rows BigQuery rejected, or
# every row of an insert request it refused whole (HTTP 403 while IAM propagates, 404 while a table
# is recreated: Beam's sink does not retry those, pipeline/sinks.py WriteCustomers); they wait as
# `write` dead letters for `make replay --stage write`. dead_letters_reduced: customers_dlq refused
# dead letters; the sink retries them reduced until they are stored (pipeline/sinks.py). Any at all.
resource "google_monitoring_alert_policy" "writes_refused" {
  display_name          = "${var.name}: BigQuery refused writes"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "rows kept as write dead letters (dead_letters_write)"
    condition_prometheus_query_language {
      query               = "sum by (job_name) (delta({${local.user_counter}, \"metric_name\"=\"dead_letters_write\"}[10m])) > 0"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  conditions {
    display_name = "dead letters refused by customers_dlq (dead_letters_reduced)"
    condition_prometheus_query_language {
      query               = "sum by (job_name) (delta({${local.user_counter}, \"metric_name\"=\"dead_letters_reduced\"}[10m])) > 0"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: BigQuery refused rows or dead letters"
    content   = "BigQuery refused rows (kept as write dead letters) or dead letters (retried until stored). The worker log line \"BigQuery refused\" names the cause. Fix it, then make replay ARGS='--stage write'. ${local.runbook}"
  }
}

# No customer reached the pipeline for a while: the producer stopped (the randomuser API failed,
# Pub/Sub refused its publishes) or nothing publishes. messages_read is a running total, so fewer
# than one message read over the window is "none".
resource "google_monitoring_alert_policy" "no_customers" {
  display_name          = "${var.name}: no new customers"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "no message read for ${var.no_customers_minutes} minutes"
    condition_prometheus_query_language {
      query               = "sum by (job_name) (delta({${local.user_counter}, \"metric_name\"=\"messages_read\"}[${var.no_customers_minutes}m])) < 1"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: no customers arrive"
    content   = "The job read no message for ${var.no_customers_minutes} minutes: check the producer's log (its summary line and exit code). ${local.runbook}"
  }
}

# Messages wait in the subscription: the job is down, stuck or too small for the load.
resource "google_monitoring_alert_policy" "backlog" {
  display_name          = "${var.name}: subscription backlog"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "oldest unacked message older than ${var.oldest_unacked_seconds}s"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.label.subscription_id = \"${google_pubsub_subscription.dataflow.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.oldest_unacked_seconds
      duration        = "${var.alert_after_seconds}s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: customers wait in the subscription"
    content   = "The oldest unacknowledged message on ${google_pubsub_subscription.dataflow.name} is older than ${var.oldest_unacked_seconds}s. ${local.runbook}"
  }
}

# The job falls behind: system lag (oldest item waiting inside the job) or data freshness (age of
# the output watermark).
resource "google_monitoring_alert_policy" "lag" {
  display_name          = "${var.name}: pipeline lag"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "system lag above ${var.system_lag_seconds}s"
    condition_threshold {
      filter          = "${local.job_filter} AND metric.type = \"dataflow.googleapis.com/job/system_lag\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.system_lag_seconds
      duration        = "${var.alert_after_seconds}s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.job_name"]
      }

      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "data freshness (watermark age) above ${var.data_freshness_seconds}s"
    condition_threshold {
      filter          = "${local.job_filter} AND metric.type = \"dataflow.googleapis.com/job/data_watermark_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.data_freshness_seconds
      duration        = "${var.alert_after_seconds}s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.job_name"]
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: the pipeline falls behind"
    content   = "System lag is above ${var.system_lag_seconds}s or data freshness above ${var.data_freshness_seconds}s. ${local.runbook}"
  }
}

# The job failed, or no job reports any vCPU any more (cancelled, drained and not replaced). The
# absence condition also fires after the first `make infra` until a job runs: by design, the
# runbook says so (README, "Job not running").
resource "google_monitoring_alert_policy" "job_not_running" {
  display_name          = "${var.name}: job not running"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "job failed"
    condition_threshold {
      filter          = "${local.job_filter} AND metric.type = \"dataflow.googleapis.com/job/is_failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.job_name"]
      }

      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "no job has reported vCPUs for ${var.job_absent_seconds}s"
    condition_absent {
      filter   = "${local.job_filter} AND metric.type = \"dataflow.googleapis.com/job/current_num_vcpus\""
      duration = "${var.job_absent_seconds}s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name}: the streaming job is not running"
    content   = "A job matching ${var.job_name_regex} failed or stopped reporting (or none has run yet since make infra). Customers wait in the subscription (retention ${var.message_retention_duration}). ${local.runbook}"
  }
}

resource "google_monitoring_dashboard" "pipeline" {
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    name            = var.name
    job_name_regex  = var.job_name_regex
    subscription_id = google_pubsub_subscription.dataflow.name
  })

  depends_on = [google_project_service.required]
}
