variable "project_id" {
  description = "Google Cloud project that holds every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 characters: lowercase letters, digits, hyphens), not its name or number."
  }
}

variable "region" {
  description = "Region of the Dataflow job, the Artifact Registry repository, the bucket and the BigQuery dataset."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "name" {
  description = "Base name of the resources (repository, bucket suffix, service accounts, job)."
  type        = string
  default     = "customer-stream"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "name must be 3-21 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "topic_name" {
  description = "Pub/Sub topic the producer publishes new customers to."
  type        = string
  default     = "customers"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}$", var.topic_name)) && !startswith(var.topic_name, "goog")
    error_message = "topic_name must be a valid Pub/Sub topic ID (3-255 characters, starts with a letter, not 'goog')."
  }
}

variable "ack_deadline_seconds" {
  description = "Initial ack deadline of the pipeline's subscription; Dataflow keeps extending it while it processes a message."
  type        = number
  default     = 60

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "ack_deadline_seconds must be between 10 and 600."
  }
}

variable "message_retention_duration" {
  description = "How long the subscription keeps unacknowledged messages (the pipeline can be stopped this long without losing data)."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention_duration)) && try(tonumber(trimsuffix(var.message_retention_duration, "s")) >= 600 && tonumber(trimsuffix(var.message_retention_duration, "s")) <= 604800, false)
    error_message = "message_retention_duration must be between 600s (10 minutes) and 604800s (7 days), in seconds with an 's' suffix."
  }
}

variable "dataset_id" {
  description = "BigQuery dataset of the customers and customers_dlq tables."
  type        = string
  default     = "customer_stream"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,1024}$", var.dataset_id))
    error_message = "dataset_id may contain only letters, digits and underscores."
  }
}

variable "bigquery_location" {
  description = "BigQuery dataset location (a region or the EU/US multi-region); empty means var.region."
  type        = string
  default     = ""

  validation {
    condition     = var.bigquery_location == "" || can(regex("^(EU|US|[a-z]+-[a-z]+[0-9]+)$", var.bigquery_location))
    error_message = "bigquery_location must be empty, EU, US or a region such as europe-west1."
  }
}

variable "dead_letter_retention_days" {
  description = "Days a dead letter (customers_dlq) and a replay record (customers_dlq_replays) are kept: BigQuery deletes each day's partition this long after it (docs/privacy.md)."
  type        = number
  default     = 30

  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 3650 && floor(var.dead_letter_retention_days) == var.dead_letter_retention_days
    error_message = "dead_letter_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "customer_retention_days" {
  description = "Days a customers row is kept after it was ingested (partition expiration); null keeps every row until it is erased (make forget)."
  type        = number
  default     = null

  validation {
    condition     = var.customer_retention_days == null || try(var.customer_retention_days >= 1 && floor(var.customer_retention_days) == var.customer_retention_days, false)
    error_message = "customer_retention_days must be null (keep) or a whole number of days, at least 1."
  }
}

variable "time_travel_hours" {
  description = "Hours BigQuery keeps deleted or changed rows recoverable (time travel): erased customers too, then 7 days of fail-safe only Google can restore from. 48 (the least BigQuery allows) to 168 (its default)."
  type        = number
  default     = 48

  validation {
    condition     = var.time_travel_hours >= 48 && var.time_travel_hours <= 168 && var.time_travel_hours % 24 == 0
    error_message = "time_travel_hours must be a multiple of 24 between 48 and 168."
  }
}

variable "personal_data_readers" {
  description = "Principals who read personal columns in clear (Fine-Grained Reader on every policy tag), e.g. group:crm@example.com. Whoever runs make replay or make forget needs it too; Terraform grants it to nobody else."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.personal_data_readers : can(regex("^(user|group|serviceAccount|domain):[^\\s]+$", m))])
    error_message = "personal_data_readers must be IAM members such as group:crm@example.com or user:ana@example.com."
  }
}

variable "masked_readers" {
  description = "Principals who read personal columns masked (Masked Reader on every data policy): the analysts' group, e.g. group:analysts@example.com. They still need read access to the dataset or views."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.masked_readers : can(regex("^(user|group|serviceAccount|domain):[^\\s]+$", m))])
    error_message = "masked_readers must be IAM members such as group:analysts@example.com."
  }
}

variable "erasure_schedule" {
  description = "When the scheduled query completes pending erasure requests (BigQuery Data Transfer schedule syntax); a request is pending only while some of its rows are in the streaming buffer (90 minutes)."
  type        = string
  default     = "every 24 hours"

  validation {
    condition     = can(regex("^every ", var.erasure_schedule))
    error_message = "erasure_schedule must be a Data Transfer schedule such as \"every 24 hours\" or \"every day 03:17\"."
  }
}

variable "temp_files_retention_days" {
  description = "Days after which Dataflow's temp/ files and make build's source/ archives are deleted (staging/ is kept: running jobs read it)."
  type        = number
  default     = 7

  validation {
    condition     = var.temp_files_retention_days >= 1 && var.temp_files_retention_days <= 365
    error_message = "temp_files_retention_days must be between 1 and 365."
  }
}

variable "deletion_protection" {
  description = "Protect the BigQuery tables from `terraform destroy`; set false only for throw-away projects."
  type        = bool
  default     = true
}

variable "delete_data" {
  description = "Set only by `make destroy DELETE_DATA=1`, after its confirmation: with deletion_protection = false, lifts every protection of the data (dataset contents, bucket objects) so that one destroy deletes it all."
  type        = bool
  default     = false
}

variable "github_owner" {
  description = "GitHub owner of the repository the Cloud Build trigger watches; empty means no trigger (the repository must be connected to Cloud Build first)."
  type        = string
  default     = ""
}

variable "github_repo" {
  description = "GitHub repository name the Cloud Build trigger watches."
  type        = string
  default     = "customer-stream"
}

variable "trigger_branch" {
  description = "Branch regex that starts a build."
  type        = string
  default     = "^main$"

  validation {
    condition     = length(var.trigger_branch) > 0
    error_message = "trigger_branch must be a branch regex such as ^main$."
  }
}

variable "continuous_delivery" {
  description = "What the Cloud Build trigger does with what it built: off (build only), update (make deploy's in-place update of the running job) or replace (drain it, then start the new one). Not off: the build service account may launch, update and drain Dataflow jobs (roles/dataflow.developer) and run them as the worker account (roles/iam.serviceAccountUser on it)."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "update", "replace"], var.continuous_delivery)
    error_message = "continuous_delivery is off, update or replace."
  }
}

variable "deploy_job" {
  description = "Also run the pipeline as a Dataflow Flex Template job from Terraform (needs the images and the template built first: make build)."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Commit SHA of the build the Terraform-managed job runs: its launcher (templates/customers-<commit>.json) and its workers (customer-pipeline:<commit>). Needed only with deploy_job = true."
  type        = string
  default     = ""

  # A mutable tag such as latest could point the workers at another image than the launcher, or
  # at a new one when autoscaling starts a worker: only an immutable commit tag is accepted.
  validation {
    condition     = var.image_tag == "" || can(regex("^[0-9a-f]{40}$", var.image_tag))
    error_message = "image_tag must be the full commit SHA of a build (git rev-parse HEAD), never latest or another mutable tag."
  }
}

variable "machine_type" {
  description = "Worker machine type of the Terraform-managed job and of continuous delivery: pipeline/options.py's MACHINE_TYPE, the capacity model's choice (docs/cost.md)."
  type        = string
  default     = "n1-standard-2"
}

variable "max_workers" {
  description = "Upper bound of Dataflow autoscaling for the Terraform-managed job and continuous delivery: pipeline/options.py's MAX_WORKERS, the capacity model's choice (docs/cost.md)."
  type        = number
  default     = 2

  validation {
    condition     = var.max_workers >= 1 && var.max_workers <= 1000
    error_message = "max_workers must be between 1 and 1000."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

# --- Alerts and dashboard (monitoring.tf); the README's "Operate" section is the runbook --------

variable "alert_email" {
  description = "Email address the alerts go to (an email notification channel is created); empty means no email channel."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be empty or an email address."
  }
}

variable "notification_channels" {
  description = "Existing notification channels (projects/<project>/notificationChannels/<id>: Slack, PagerDuty, SMS, ...) that also receive every alert."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must be channel names such as projects/my-project/notificationChannels/123."
  }
}

variable "job_name_regex" {
  description = "RE2 regex of the Dataflow job names the alerts and the dashboard watch: make deploy names its jobs customers-<UTC time>, the Terraform-managed job is var.name (change both together)."
  type        = string
  default     = "customers-.*|customer-stream"

  validation {
    condition     = length(var.job_name_regex) > 0 && !can(regex("[\"\\\\]", var.job_name_regex))
    error_message = "job_name_regex must not contain double quotes or backslashes (it is embedded in filters and PromQL)."
  }
}

variable "alert_after_seconds" {
  description = "How long a threshold must be crossed before an alert opens (dead letters, backlog, lag)."
  type        = number
  default     = 300

  validation {
    condition     = var.alert_after_seconds >= 0 && var.alert_after_seconds <= 3600 && var.alert_after_seconds % 60 == 0
    error_message = "alert_after_seconds must be a multiple of 60 between 0 and 3600."
  }
}

variable "dead_letters_per_minute" {
  description = "Alert when the pipeline dead-letters more messages per minute than this (5-minute average, all stages)."
  type        = number
  default     = 5

  validation {
    condition     = var.dead_letters_per_minute >= 0
    error_message = "dead_letters_per_minute must be >= 0."
  }
}

variable "no_customers_minutes" {
  description = "Alert when the job has read no message for this many minutes (the producer stopped)."
  type        = number
  default     = 15

  validation {
    condition     = var.no_customers_minutes >= 2
    error_message = "no_customers_minutes must be >= 2 (the counter is sampled every minute)."
  }
}

variable "oldest_unacked_seconds" {
  description = "Alert when the oldest unacknowledged message on the pipeline's subscription is older than this."
  type        = number
  default     = 600

  validation {
    condition     = var.oldest_unacked_seconds >= 60
    error_message = "oldest_unacked_seconds must be at least 60."
  }
}

variable "system_lag_seconds" {
  description = "Alert when the job's system lag (longest time an item has waited inside the job) exceeds this."
  type        = number
  default     = 300

  validation {
    condition     = var.system_lag_seconds >= 30
    error_message = "system_lag_seconds must be at least 30."
  }
}

variable "data_freshness_seconds" {
  description = "Alert when the job's data freshness (age of its output watermark, job/data_watermark_age) exceeds this."
  type        = number
  default     = 600

  validation {
    condition     = var.data_freshness_seconds >= 30
    error_message = "data_freshness_seconds must be at least 30."
  }
}

variable "job_absent_seconds" {
  description = "Alert when no matching job has reported vCPUs for this long (cancelled, drained or never restarted)."
  type        = number
  default     = 600

  validation {
    condition     = var.job_absent_seconds >= 120 && var.job_absent_seconds <= 84600 && var.job_absent_seconds % 60 == 0
    error_message = "job_absent_seconds must be a multiple of 60 between 120 and 84600 (Cloud Monitoring's range for absence conditions)."
  }
}
