terraform {
  required_version = ">= 1.5"

  # The state lives in a Cloud Storage bucket, so teammates and Cloud Build share one deployment.
  # Partial configuration: the bucket is per project, so `make infra` passes it to `terraform init
  # -backend-config=bucket=<project>-customer-stream-tfstate`; `make infra-bootstrap` creates it,
  # versioned (Terraform's advice, to recover an older state) with uniform access. The backend
  # locks the state itself (https://developer.hashicorp.com/terraform/language/backend/gcs).
  # LOCAL_STATE=1 replaces it by a local state file (local_backend_override.tf, see README.md).
  backend "gcs" {
    prefix = "customer-stream"
  }

  required_providers {
    # 6.50 is the schema tests/static/test_terraform_schema.py checks every block against
    # (requirements/terraform-schema.txt); a test fails if this range and that version part.
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    # google_dataflow_flex_template_job and google_project_service_identity are only in the beta
    # provider.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.50"
    }
    # time_sleep (monitoring.tf): the wait for a new log-based metric. 0.13 is the schema the same
    # test checks it against.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
