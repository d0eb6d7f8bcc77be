# Which columns are personal, and how each is masked, from pipeline/schemas/classification.json:
# the policy tags to create and the table schemas with a policy tag on exactly the personal
# columns. Pure expressions, no resource, no provider: tests/static/test_terraform_privacy.py
# evaluates this module with the real terraform offline.

variable "tables" {
  description = "Table resources by key, as decoded from pipeline/schemas/<table>.json."
  type        = any
}

variable "classification" {
  description = "pipeline/schemas/classification.json, decoded."
  type        = any
}

variable "policy_tags" {
  description = "Resource name of the policy tag of each masked key (output masked_keys)."
  type        = map(string)
  default     = {}
}

locals {
  # One entry per classified column; a nested column is parent.child.
  columns = merge([
    for table, columns in var.classification.tables : {
      for path, entry in columns : "${table}.${path}" => {
        class   = entry.class
        masking = try(entry.masking, null)
        # One policy tag per class and masking rule: BigQuery masks per policy tag.
        key = entry.class == "none" ? null : "${entry.class}_${lower(entry.masking)}"
      }
    }
  ]...)
  masked = { for column in values(local.columns) : column.key => column... if column.key != null }

  # What a column's schema field gains: its policy tag if it is personal; nothing for a RECORD,
  # whose fields are tagged instead (BigQuery tags leaf columns). A column that is not
  # classified has no entry: the schema below then fails to evaluate.
  tag_of = merge(
    {
      for name, column in local.columns : name => column.key == null ? {} : {
        policyTags = { names = [var.policy_tags[column.key]] }
      }
    },
    merge([
      for table, resource in var.tables : {
        for field in resource.schema.fields : "${table}.${field.name}" => {} if field.type == "RECORD"
      }
    ]...)
  )
  # A RECORD's fields, each tagged as above.
  nested = merge([
    for table, resource in var.tables : {
      for field in resource.schema.fields : "${table}.${field.name}" => {
        fields = [for child in field.fields : merge(child, local.tag_of["${table}.${field.name}.${child.name}"])]
      } if field.type == "RECORD"
    }
  ]...)
}

output "masked_keys" {
  description = "Each policy tag to create, by key (class_rule): its class and its masking rule."
  value       = { for key, columns in local.masked : key => { class = columns[0].class, masking = columns[0].masking } }
}

output "classes" {
  description = "The personal classes some column has (parents of the policy tags)."
  value       = toset([for columns in values(local.masked) : columns[0].class])
}

output "column_keys" {
  description = "Policy tag key of every personal column, by table.column."
  value       = { for name, column in local.columns : name => column.key if column.key != null }
}

output "schemas" {
  description = "Each table's schema fields as BigQuery JSON, personal columns with their policy tag."
  value = {
    for table, resource in var.tables : table => jsonencode([
      for field in resource.schema.fields :
      merge(field, local.tag_of["${table}.${field.name}"], try(local.nested["${table}.${field.name}"], {}))
    ])
  }
}
