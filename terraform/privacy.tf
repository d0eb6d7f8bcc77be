# Column-level security and masking (docs/privacy.md). pipeline/schemas/classification.json says
# which columns are personal and how each is masked; modules/personal_data turns it into the
# policy tags below and tags exactly those columns in the schemas bigquery.tf creates.
#
# - A policy tag guards every column it is on: reading one needs the Fine-Grained Reader role on
#   the tag, once its taxonomy enforces access control
#   (https://cloud.google.com/bigquery/docs/column-level-security-intro).
# - A data policy on a tag masks it for Masked Readers, with a predefined rule
#   (https://cloud.google.com/bigquery/docs/column-data-masking-intro#masking_options). BigQuery
#   masks per policy tag, so there is one tag per class and rule, under one parent per class.
# - Writing needs neither: "Streaming to BigQuery is similar to LOAD and INSERT. BigQuery lets
#   you stream data into destination table columns even without fine-grained read permission"
#   (https://cloud.google.com/bigquery/docs/column-level-security-writes), so the Dataflow
#   service account keeps writing every column with bigquery.dataEditor alone.

locals {
  classification = jsondecode(file("${path.module}/../pipeline/schemas/classification.json"))
  # Policy tags and data policies live where the dataset does ("eu", "us" or a region).
  privacy_location = lower(coalesce(var.bigquery_location, var.region))
}

module "personal_data" {
  source = "./modules/personal_data"

  tables         = local.tables
  classification = local.classification
  policy_tags    = { for key, tag in google_data_catalog_policy_tag.masked : key => tag.name }
}

resource "google_data_catalog_taxonomy" "personal_data" {
  region                 = local.privacy_location
  display_name           = "${var.name} ${var.project_id} personal data" # unique in the organisation
  description            = "Which columns of the customer stream are personal: direct identifiers, quasi-identifiers, pseudonyms (pipeline/schemas/classification.json)."
  activated_policy_types = ["FINE_GRAINED_ACCESS_CONTROL"]

  depends_on = [google_project_service.required]
}

resource "google_data_catalog_policy_tag" "class" {
  for_each = module.personal_data.classes

  taxonomy     = google_data_catalog_taxonomy.personal_data.id
  display_name = each.key
  description  = local.classification.classes[each.key]
}

resource "google_data_catalog_policy_tag" "masked" {
  for_each = module.personal_data.masked_keys

  taxonomy          = google_data_catalog_taxonomy.personal_data.id
  parent_policy_tag = google_data_catalog_policy_tag.class[each.value.class].id
  display_name      = "${each.value.class} - ${each.value.masking}"
  description       = "${each.value.class} columns; masked readers see ${each.value.masking}."
}

resource "google_bigquery_datapolicy_data_policy" "masking" {
  for_each = module.personal_data.masked_keys

  location         = local.privacy_location
  data_policy_id   = "${replace(var.name, "-", "_")}_${each.key}"
  policy_tag       = google_data_catalog_policy_tag.masked[each.key].name
  data_policy_type = "DATA_MASKING_POLICY"

  data_masking_policy {
    predefined_expression = each.value.masking
  }
}

# Unmasked reads: only the principals listed, on every personal column.
resource "google_data_catalog_policy_tag_iam_member" "personal_data_readers" {
  for_each = {
    for pair in setproduct(keys(module.personal_data.masked_keys), var.personal_data_readers) :
    "${pair[0]} ${pair[1]}" => { key = pair[0], member = pair[1] }
  }

  policy_tag = google_data_catalog_policy_tag.masked[each.value.key].name
  role       = "roles/datacatalog.categoryFineGrainedReader"
  member     = each.value.member
}

# Masked reads: granted on each data policy, not the project, as Google advises ("the best
# practice is to assign the Masked Reader role at the data policy level":
# https://cloud.google.com/bigquery/docs/column-data-masking-intro).
resource "google_bigquery_datapolicy_data_policy_iam_member" "masked_readers" {
  for_each = {
    for pair in setproduct(keys(module.personal_data.masked_keys), var.masked_readers) :
    "${pair[0]} ${pair[1]}" => { key = pair[0], member = pair[1] }
  }

  location       = local.privacy_location
  data_policy_id = google_bigquery_datapolicy_data_policy.masking[each.value.key].data_policy_id
  role           = "roles/bigquerydatapolicy.maskedReader"
  member         = each.value.member
}
