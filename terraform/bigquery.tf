# The table definitions are the pipeline's own schema files (BigQuery Table resource format):
# one source of truth for Terraform, the pipeline, the local stack and the tests.
locals {
  table_files = {
    customers     = "${path.module}/../pipeline/schemas/customers.json"
    customers_dlq = "${path.module}/../pipeline/schemas/customers_dlq.json"
    # Which dead letters `python -m replay` re-published (README "Operate").
    customers_dlq_replays = "${path.module}/../pipeline/schemas/customers_dlq_replays.json"
    # Who `make forget` erased (erasure.tf completes the requests).
    erasure_requests = "${path.module}/../pipeline/schemas/erasure_requests.json"
  }
  tables = { for key, file_path in local.table_files : key => jsondecode(file(file_path)) }
  # How long each table keeps a partition, in days; null keeps it for good (docs/privacy.md).
  # A replay record lives as long as the dead letter it stops from being replayed twice, and
  # an erasure request for good, so that no replay brings the customer back.
  retention_days = {
    customers             = var.customer_retention_days
    customers_dlq         = var.dead_letter_retention_days
    customers_dlq_replays = var.dead_letter_retention_days
    erasure_requests      = null
  }
}

resource "google_bigquery_dataset" "customers" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption keys; a CMEK is an organisation-level choice, set default_encryption_configuration when one exists.
  dataset_id                 = var.dataset_id
  location                   = coalesce(var.bigquery_location, var.region)
  description                = "Customer stream: every registered customer (customers), every unusable message (customers_dlq), its replays (customers_dlq_replays) and erasure requests (erasure_requests)."
  delete_contents_on_destroy = var.delete_data # else a table Terraform does not know stops the destroy
  labels                     = local.labels
  # How long BigQuery keeps deleted and changed rows for recovery, erased customers' included
  # (then 7 more days of fail-safe: https://cloud.google.com/bigquery/docs/time-travel).
  max_time_travel_hours = tostring(var.time_travel_hours)

  depends_on = [google_project_service.required]
}

resource "google_bigquery_table" "tables" {
  #checkov:skip=CKV_GCP_80:Google-managed encryption keys; a CMEK is an organisation-level choice, set encryption_configuration when one exists.
  for_each = local.tables

  dataset_id          = google_bigquery_dataset.customers.dataset_id
  table_id            = each.value.tableReference.tableId
  description         = each.value.description
  schema              = module.personal_data.schemas[each.key] # personal columns policy-tagged (privacy.tf)
  clustering          = try(each.value.clustering.fields, null)
  deletion_protection = var.deletion_protection
  labels              = local.labels

  dynamic "time_partitioning" {
    for_each = can(each.value.timePartitioning) ? [each.value.timePartitioning] : []
    content {
      type  = time_partitioning.value.type
      field = try(time_partitioning.value.field, null)
      # Partition expiration: BigQuery deletes a partition this long after its time
      # (https://cloud.google.com/bigquery/docs/managing-partitioned-tables#partition-expiration).
      expiration_ms = local.retention_days[each.key] == null ? null : local.retention_days[each.key] * 86400000
    }
  }
}

# Views from views/*.sql, the files the local stack and the tests create them from: the file name
# is the view name, its first comment line the description, {project}/{dataset} the tables' home.
locals {
  view_files = { for file_name in fileset("${path.module}/../views", "*.sql") : trimsuffix(file_name, ".sql") => "${path.module}/../views/${file_name}" }
  views      = { for name, file_path in local.view_files : name => file(file_path) }
}

resource "google_bigquery_table" "views" {
  #checkov:skip=CKV_GCP_80:a view stores no data of its own; the tables it reads are encrypted as configured above.
  for_each = local.views

  dataset_id          = google_bigquery_dataset.customers.dataset_id
  table_id            = each.key
  description         = trimspace(trimprefix(split("\n", each.value)[0], "--"))
  deletion_protection = var.deletion_protection # a changed query updates in place; a renamed file needs it off
  labels              = local.labels

  view {
    query          = replace(replace(each.value, "{project}", var.project_id), "{dataset}", google_bigquery_dataset.customers.dataset_id)
    use_legacy_sql = false
  }

  # BigQuery checks the query against the tables when it creates the view.
  depends_on = [google_bigquery_table.tables]
}
