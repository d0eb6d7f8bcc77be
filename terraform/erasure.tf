# Erasure requests of `make forget` are completed by a scheduled query: replay/complete_erasures.sql
# deletes an erased customer's rows once they have left BigQuery's streaming buffer, which DML
# cannot touch (https://cloud.google.com/bigquery/docs/data-manipulation-language#limitations).
# It runs as its own service account, with DML on the four tables it reads and changes and
# Fine-Grained Reader on the policy tags of the personal columns it matches on, nothing else.

locals {
  # The personal columns complete_erasures.sql reads to find a customer's rows
  # (tests/static/test_terraform_privacy.py keeps this list in step with the file).
  erasure_reads = [
    "customers.customer_id",
    "customers_dlq.payloadString",
    "customers_dlq.payloadBytes",
    "customers_dlq.attributes.value",
    "erasure_requests.customer_id",
  ]
  erasure_query = templatefile("${path.module}/../replay/complete_erasures.sql", {
    for key, table in google_bigquery_table.tables : key => "`${var.project_id}.${table.dataset_id}.${table.table_id}`"
  })
}

resource "google_service_account" "erasure" {
  account_id   = "${var.name}-erasure"
  display_name = "Customer stream erasures: completes the pending requests of make forget"

  depends_on = [google_project_service.required]
}

# A scheduled query runs BigQuery jobs in the project; jobs have no narrower scope.
resource "google_project_iam_member" "erasure_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.erasure.member
}

resource "google_bigquery_table_iam_member" "erasure_editor" {
  for_each = toset(["customers", "customers_dlq", "customers_dlq_replays", "erasure_requests"])

  dataset_id = google_bigquery_dataset.customers.dataset_id
  table_id   = google_bigquery_table.tables[each.key].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.erasure.member
}

# DELETE and UPDATE need fine-grained read on the columns their WHERE clause scans
# (https://cloud.google.com/bigquery/docs/column-level-security-writes).
resource "google_data_catalog_policy_tag_iam_member" "erasure_reader" {
  for_each = toset([for column in local.erasure_reads : module.personal_data.column_keys[column]])

  policy_tag = google_data_catalog_policy_tag.masked[each.key].name
  role       = "roles/datacatalog.categoryFineGrainedReader"
  member     = google_service_account.erasure.member
}

# apis.tf creates the Data Transfer Service's agent on request, so it gets the role Google grants an
# agent it creates itself (https://cloud.google.com/iam/docs/create-service-agents), as iam.tf
# does for Dataflow's and Cloud Build's.
resource "google_project_iam_member" "bigquery_data_transfer_agent" {
  #checkov:skip=CKV_GCP_49:the role Google itself grants the Data Transfer Service's own agent (it starts the scheduled query's jobs); no principal of ours gets it.
  project = var.project_id
  role    = "roles/bigquerydatatransfer.serviceAgent" # a service agent role exists only at project level
  member  = google_project_service_identity.bigquery_data_transfer.member
}

# The Data Transfer Service's agent runs scheduled queries as the service account they name: it
# mints that account's tokens (the provider's scheduled-query example grants it Token Creator,
# https://registry.terraform.io/providers/hashicorp/google/6.50.0/docs/resources/bigquery_data_transfer_config;
# here on the one account, not the project).
resource "google_service_account_iam_member" "erasure_token_creator" {
  service_account_id = google_service_account.erasure.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_project_service_identity.bigquery_data_transfer.member
}

resource "google_bigquery_data_transfer_config" "erasures" {
  display_name         = "${var.name} erasures"
  location             = coalesce(var.bigquery_location, var.region)
  data_source_id       = "scheduled_query"
  schedule             = var.erasure_schedule
  service_account_name = google_service_account.erasure.email

  # DML only: no destination table. BigQuery binds @run_time to each run's scheduled time.
  params = {
    query = local.erasure_query
  }

  depends_on = [
    google_project_iam_member.bigquery_data_transfer_agent,
    google_service_account_iam_member.erasure_token_creator,
    google_project_iam_member.erasure_jobs,
    google_bigquery_table_iam_member.erasure_editor,
    google_data_catalog_policy_tag_iam_member.erasure_reader,
  ]
}
