"""terraform/ as Python data: each .tf file parsed by python-hcl2, with HCL's quotes dropped.

The one loader the static Terraform tests share (structure tests and the provider-schema check).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

from tests.support import ROOT

TERRAFORM = ROOT / "terraform"


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
