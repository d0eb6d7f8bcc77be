"""terraform/ as Python data: each .tf file parsed by python-hcl2, with HCL's quotes dropped;
and terraform/modules/personal_data evaluated by the real terraform, offline.

The one loader the static Terraform tests share (structure tests, the provider-schema check,
the schemas Terraform gives the tables).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.support import ROOT, run

TERRAFORM = ROOT / "terraform"
CLASSIFICATION = ROOT / "pipeline" / "schemas" / "classification.json"
# privacy.tf's wiring of the module, with terraform_data for google_data_catalog_policy_tag.
ROOT_MODULE = """
variable "tables" { type = any }
variable "classification" { type = any }
module "personal_data" {
  source         = "./personal_data"
  tables         = var.tables
  classification = var.classification
  policy_tags    = { for key, tag in terraform_data.masked : key => tag.output }
}
resource "terraform_data" "masked" {
  for_each = module.personal_data.masked_keys
  input    = "projects/p/locations/eu/taxonomies/1/policyTags/${each.key}"
}
output "masked_keys" { value = module.personal_data.masked_keys }
output "classes" { value = module.personal_data.classes }
output "column_keys" { value = module.personal_data.column_keys }
output "schemas" { value = module.personal_data.schemas }
"""


def unquote(value: Any, *, unescape: bool = False) -> Any:
    """python-hcl2 keeps HCL's quotes on keys and literals: drop them, recursively; with
    `unescape`, HCL's escapes (`\\"`, `\\\\`) inside a quoted literal go too.

    Its own keys (`__is_block__`, `__comments__`) go too: they are not HCL.
    """
    if isinstance(value, str):
        if len(value) < 2 or not value[0] == value[-1] == '"':
            return value
        return re.sub(r"\\(.)", r"\1", value[1:-1]) if unescape else value[1:-1]
    if isinstance(value, list):
        return [unquote(v, unescape=unescape) for v in value]
    if isinstance(value, dict):
        return {
            unquote(k, unescape=unescape): unquote(v, unescape=unescape)
            for k, v in value.items()
            if not k.startswith("__")
        }
    return value


def parse(path: Path, *, unescape: bool = False) -> dict[str, list[dict[str, Any]]]:
    """One .tf file: {"resource": [{type: {name: body}}, ...], "variable": [...], ...}.

    Blocks are lists of dicts (one per occurrence), attributes plain values; an expression is a
    string such as "${var.region}".
    """
    with path.open() as handle:
        return unquote(hcl2.load(handle), unescape=unescape)


def parse_dir(directory: Path = TERRAFORM) -> dict[Path, dict[str, list[dict[str, Any]]]]:
    """Every .tf file of a Terraform module directory, parsed, by path."""
    return {path: parse(path) for path in sorted(directory.glob("*.tf"))}


def merged(directory: Path = TERRAFORM) -> dict[str, Any]:
    """Every .tf file merged: {"resource": {type: {name: body}}, "variable": {...}, ...}."""
    found: dict[str, Any] = {}
    for parsed in parse_dir(directory).values():
        for kind, blocks in parsed.items():
            for block in blocks:
                if kind in ("resource", "data"):
                    for rtype, named in block.items():
                        found.setdefault(kind, {}).setdefault(rtype, {}).update(named)
                else:
                    found.setdefault(kind, {}).update(block)
    return found


def apply_module(
    tmp_path: Path, tables: dict, classification: dict | None = None
) -> tuple[int, dict, str]:
    """terraform init + apply of the personal_data module under ROOT_MODULE, for `tables` (as
    decoded from pipeline/schemas) and `classification` (default: the committed one):
    (exit code, outputs, stderr)."""
    terraform = shutil.which("terraform")
    if not terraform:
        pytest.fail("terraform is not installed: https://developer.hashicorp.com/terraform/install")
    shutil.copytree(TERRAFORM / "modules" / "personal_data", tmp_path / "personal_data")
    (tmp_path / "main.tf").write_text(ROOT_MODULE)
    variables = {
        "tables": tables,
        "classification": classification or json.loads(CLASSIFICATION.read_text()),
    }
    (tmp_path / "terraform.tfvars.json").write_text(json.dumps(variables))
    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / ".terraform"), "TF_IN_AUTOMATION": "1"}
    chdir = f"-chdir={tmp_path}"
    init = run(terraform, chdir, "init", "-input=false", "-backend=false", "-no-color", env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    applied = run(terraform, chdir, "apply", "-auto-approve", "-input=false", "-no-color", env=env)
    if applied.returncode:
        return applied.returncode, {}, applied.stdout + applied.stderr
    output = run(terraform, chdir, "output", "-json", "-no-color", env=env)
    return 0, {k: v["value"] for k, v in json.loads(output.stdout).items()}, ""
