"""terraform/ checked against its providers' real schemas (Google's and hashicorp/time), offline.

`terraform validate` needs the providers from the Terraform registry, which is not reachable here.
The prebuilt CDK for Terraform providers (`cdktf-cdktf-provider-google[-beta]` and
`cdktf-cdktf-provider-time`, pinned with hashes in requirements/terraform-schema.txt) are
generated from the providers' own schema (what `terraform providers schema -json` prints): their
jsii assembly holds every resource and data source as a `...Config` interface whose properties
are the arguments a configuration may set (`optional` unless required; computed-only attributes
are left out) and whose nested blocks are further interfaces. Each property's doc links the
registry page with the argument's Terraform name as the anchor
(`.../resources/pubsub_subscription#topic`).

Two halves, both stdlib only:
- `index`: run once by `make tools` (`python tests/static/terraform_schema.py index WHEEL...
  --out DIR`, before .venv exists). Reads the assembly inside each wheel (about 100 MB of JSON)
  and writes DIR/<provider>.json, a compact index of types, arguments and required arguments
  that the static test loads in a tenth of a second. It records the wheel's sha256, which the test
  matches against the lock file and the wheel itself.
- `check`: every `resource` and `data` block of a parsed Terraform module against the schema of
  the provider it uses: the type exists, every argument and nested block exists at any depth
  (`dynamic` blocks included), every required argument is set, meta-arguments are understood.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INDEX_FORMAT = 1
LOCK = "requirements/terraform-schema.txt"
REGISTRY = "https://registry.terraform.io/providers"
# "{@link https://registry.terraform.io/providers/hashicorp/google/6.50.0/docs/resources/
# pubsub_subscription#topic PubsubSubscription#topic}": page, kind, anchor, label.
LINK = re.compile(
    r"\{@link (https://registry\.terraform\.io/providers/[\w-]+/[\w-]+/[\w.-]+/docs/"
    r"(resources|data-sources)/\w+)(?:#(\w+))? ([^}\s]+)\}"
)
KINDS = {"resources": "resource", "data-sources": "data"}

# Terraform's own arguments of a resource or data block, not the provider's:
# https://developer.hashicorp.com/terraform/language/meta-arguments/count (and for_each,
# depends_on, resource-provider, lifecycle); provisioners and connection only on resources:
# https://developer.hashicorp.com/terraform/language/resources/provisioners/syntax; a data block
# takes the same meta-arguments except provisioners and a lifecycle with conditions only:
# https://developer.hashicorp.com/terraform/language/data-sources#meta-arguments.
# `timeouts` is not among them: a provider declares it per resource, so it is in the schema.
META = {
    "resource": {
        "count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection",
    },
    "data": {"count", "for_each", "depends_on", "provider", "lifecycle"},
}  # fmt: skip
LIFECYCLE = {
    "resource": {
        "create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by",
        "precondition", "postcondition",
    },
    "data": {"precondition", "postcondition"},
}  # fmt: skip
LIFECYCLE_DOC = "https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle"
# https://developer.hashicorp.com/terraform/language/expressions/dynamic-blocks
DYNAMIC = {"for_each", "iterator", "labels", "content"}
DYNAMIC_DOC = "https://developer.hashicorp.com/terraform/language/expressions/dynamic-blocks"


# ---------------------------------------------------------------------------------------------
# index: the jsii assembly inside a wheel -> DIR/<provider>.json


def read_package(wheel: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The jsii assembly and package.json of the npm tarball a jsii-built wheel embeds."""
    found: dict[str, Any] = {}
    with zipfile.ZipFile(wheel) as archive:
        (member,) = (name for name in archive.namelist() if name.endswith(".jsii.tgz"))
        with archive.open(member) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
            for entry in tar:
                if entry.name in ("package/.jsii", "package/package.json"):
                    found[entry.name] = json.load(tar.extractfile(entry))
    return found["package/.jsii"], found["package/package.json"]


def snake_case(name: str) -> str:
    """portRange -> port_range: for the few properties whose docs lost their registry link."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def terraform_name(prop: dict[str, Any]) -> str:
    """The argument's name in HCL: the anchor of its registry link, as jsii renames some
    (`build` is `buildAttribute`, `geth_details` is `fetchhDetails`)."""
    for match in LINK.finditer(json.dumps(prop.get("docs", {}))):
        if match.group(3):
            return match.group(3)
    return snake_case(prop["name"])


def nested_type(type_ref: dict[str, Any]) -> str | None:
    """The provider interface a property's type refers to (a nested block), if any."""
    if "fqn" in type_ref:
        return None if type_ref["fqn"].startswith("cdktf.") else type_ref["fqn"]
    if "collection" in type_ref:
        return nested_type(type_ref["collection"]["elementtype"])
    found = {nested_type(t) for t in type_ref.get("union", {}).get("types", [])} - {None}
    if len(found) > 1:
        raise ValueError(f"a property of several block types: {found}")
    return found.pop() if found else None


def build_index(wheel: Path) -> dict[str, Any]:
    """The compact index of one provider package: its types, their blocks, and provenance."""
    assembly, package = read_package(wheel)
    provider = package["cdktf"]["provider"]
    types: dict[str, dict[str, Any]] = assembly["types"]
    prefix = assembly["name"] + "."
    index: dict[str, Any] = {
        "format": INDEX_FORMAT,
        "provider": provider["name"].removeprefix("registry.terraform.io/"),
        "version": provider["version"],
        "package": {
            "name": assembly["name"],
            "version": assembly["version"],
            "fingerprint": assembly["fingerprint"],
            "wheel": wheel.name,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        },
        "resource": {},
        "data": {},
        "blocks": {},
    }

    def add_block(fqn: str) -> str:
        block_id = fqn.removeprefix(prefix)
        if block_id in index["blocks"]:
            return block_id
        arguments: dict[str, str | None] = {}
        required: list[str] = []
        index["blocks"][block_id] = {"arguments": arguments, "required": required}
        for prop in types[fqn].get("properties", []):
            name = terraform_name(prop)
            nested = nested_type(prop["type"])
            arguments[name] = add_block(nested) if nested else None
            if not prop.get("optional"):
                required.append(name)
        return block_id

    for jsii_type in types.values():
        # A resource or data source class: "Represents a {@link <page> google_pubsub_topic}".
        link = LINK.search(jsii_type.get("docs", {}).get("summary", ""))
        if jsii_type["kind"] != "class" or not link or not jsii_type.get("initializer"):
            continue
        (config,) = (p for p in jsii_type["initializer"]["parameters"] if p["name"] == "config")
        page, kind, label = link.group(1), KINDS[link.group(2)], link.group(4)
        index[kind][label] = [page, add_block(config["type"]["fqn"])]
    if not index["resource"]:  # hashicorp/time has resources only, no data source
        raise ValueError(f"{wheel.name}: no resource found in its jsii assembly")
    return index


def write_indexes(wheels: Iterable[Path], out: Path) -> list[Path]:
    """One DIR/<provider>.json per wheel (google.json, google-beta.json)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for wheel in wheels:
        index = build_index(wheel)
        path = out / f"{index['provider'].rsplit('/', 1)[-1]}.json"
        path.write_text(json.dumps(index, separators=(",", ":"), sort_keys=True))
        written.append(path)
        print(
            f"==> {path}: {index['provider']} {index['version']} "
            f"({len(index['resource'])} resources, {len(index['data'])} data sources) "
            f"from {index['package']['name']} {index['package']['version']}"
        )
    return written


# ---------------------------------------------------------------------------------------------
# check: parsed Terraform -> problems


@dataclass(frozen=True)
class Block:
    """One nesting level of a schema: argument -> the id of its nested block, if it is one."""

    arguments: Mapping[str, str | None]
    required: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """One provider's schema as the index holds it."""

    provider: str  # "hashicorp/google"
    version: str  # "6.50.0"
    package: Mapping[str, str]  # name, version, fingerprint, wheel, sha256
    types: Mapping[str, Mapping[str, tuple[str, str]]]  # kind -> type -> (page, block id)
    blocks: Mapping[str, Block]

    @classmethod
    def load(cls, path: Path) -> Schema:
        index = json.loads(path.read_text())
        if index.get("format") != INDEX_FORMAT:
            raise ValueError(f"{path}: index format {index.get('format')}: run `make tools`")
        return cls(
            provider=index["provider"],
            version=index["version"],
            package=index["package"],
            types={kind: {t: tuple(v) for t, v in index[kind].items()} for kind in META},
            blocks={
                block_id: Block(block["arguments"], tuple(block["required"]))
                for block_id, block in index["blocks"].items()
            },
        )

    @property
    def docs(self) -> str:
        return f"{REGISTRY}/{self.provider}/{self.version}/docs"


def load_schemas(directory: Path) -> dict[str, Schema]:
    """Every index in `directory`, by provider source ("hashicorp/google")."""
    schemas = (Schema.load(path) for path in sorted(directory.glob("*.json")))
    return {schema.provider: schema for schema in schemas}


@dataclass(frozen=True)
class Problem:
    """One thing `terraform validate` would reject, with where it is and where the docs are."""

    file: str
    block: str  # "google_pubsub_subscription.dataflow", "data.google_project.this"
    argument: str  # "dead_letter_policy.max_delivery_attempts"; "" for the block's type
    message: str
    link: str

    def __str__(self) -> str:
        where = f"{self.block}: {self.argument}" if self.argument else self.block
        return f"{self.file}: {where}: {self.message} ({self.link})"


@dataclass(frozen=True)
class Report:
    """What `check` looked at and what it found."""

    checked: tuple[str, ...]  # the address of every block checked
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Declared:
    """One `resource` or `data` block as written."""

    file: str
    kind: str  # "resource" or "data"
    type: str
    name: str
    body: Mapping[str, Any]

    @property
    def address(self) -> str:
        address = f"{self.type}.{self.name}"
        return address if self.kind == "resource" else f"data.{address}"


def declared(files: Mapping[str, Mapping[str, Any]]) -> Iterator[Declared]:
    """Every resource and data block of a module (file name -> parsed .tf)."""
    for file, parsed in files.items():
        for kind in META:
            for entry in parsed.get(kind, []):
                for block_type, named in entry.items():
                    for name, body in named.items():
                        yield Declared(file, kind, block_type, name, body)


def provider_sources(files: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Local provider name -> source, from every `required_providers` block."""
    sources = {}
    for parsed in files:
        for terraform in parsed.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for local, spec in required.items():
                    if isinstance(spec, dict) and "source" in spec:
                        sources[local] = spec["source"].removeprefix("registry.terraform.io/")
    return sources


def provider_name(body: Mapping[str, Any], block_type: str) -> str:
    """The local provider name a block uses: its `provider` argument (`google-beta`,
    `google-beta.west`) or else its type's prefix, as Terraform does."""
    reference = body.get("provider")
    if isinstance(reference, str):
        return reference.removeprefix("${").removesuffix("}").split(".", 1)[0]
    return block_type.split("_", 1)[0]


def instances(value: Any) -> list[Mapping[str, Any]]:
    """The bodies a nested block value holds (none when it is an expression)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def suggestion(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


class _Checker:
    """Walks one block's body down its schema (nested and dynamic blocks too); collects problems."""

    def __init__(self, block: Declared, page: str, schema: Schema) -> None:
        self.block, self.page, self.schema = block, page, schema
        self.problems: list[Problem] = []

    def problem(self, argument: str, message: str, link: str) -> None:
        self.problems.append(Problem(self.block.file, self.block.address, argument, message, link))

    def body(self, body: Mapping[str, Any], block: Block, path: str) -> None:
        present = set()
        for key, value in body.items():
            if key == "dynamic":
                for entry in instances(value):
                    for label, spec in entry.items():
                        present.add(label)
                        self.dynamic(label, spec, block, path)
                continue
            present.add(key)
            self.argument(key, value, block, path)
        for name in block.required:
            if name not in present:
                self.problem(
                    path + name,
                    f"required argument {name} is missing ({self.where()})",
                    f"{self.page}#{name}",
                )

    def argument(self, key: str, value: Any, block: Block, path: str) -> None:
        if key not in block.arguments:
            self.problem(
                path + key,
                f"{key} is not an argument or block here ({self.where()})"
                + suggestion(key, block.arguments),
                self.page,
            )
            return
        nested = block.arguments[key]
        if nested:
            for instance in instances(value):
                self.body(instance, self.schema.blocks[nested], f"{path}{key}.")

    def dynamic(self, label: str, spec: Any, block: Block, path: str) -> None:
        nested = block.arguments.get(label)
        if label not in block.arguments or not nested:
            what = "is not a nested block" if label in block.arguments else "is not a block"
            self.problem(
                path + label,
                f'dynamic "{label}": {label} {what} here ({self.where()})'
                + suggestion(label, (k for k, v in block.arguments.items() if v)),
                self.page,
            )
            return
        for spec_body in instances(spec):
            for key in spec_body.keys() - DYNAMIC:
                self.problem(
                    f"{path}{label}.{key}",
                    f'dynamic "{label}" takes only {", ".join(sorted(DYNAMIC))}',
                    DYNAMIC_DOC,
                )
            for content in instances(spec_body.get("content")):
                self.body(content, self.schema.blocks[nested], f"{path}{label}.")

    def lifecycle(self, kind: str, value: Any) -> None:
        for body in instances(value):
            for key in body.keys() - LIFECYCLE[kind]:
                self.problem(
                    f"lifecycle.{key}",
                    f"{key} is not a lifecycle argument of a {kind} block"
                    + suggestion(key, LIFECYCLE[kind]),
                    LIFECYCLE_DOC,
                )

    def where(self) -> str:
        return f"{self.schema.provider} {self.schema.version}"


def check_block(
    block: Declared, sources: Mapping[str, str], schemas: Mapping[str, Schema]
) -> list[Problem]:
    """One block against the schema of the provider it uses."""
    local = provider_name(block.body, block.type)
    source = sources.get(local, f"hashicorp/{local}")
    schema = schemas.get(source)
    if schema is None:
        message = (
            f"no schema of provider {source} to check it against "
            f"(have {', '.join(sorted(schemas))}): add its package to {LOCK}"
        )
        return [Problem(block.file, block.address, "", message, REGISTRY)]
    found = schema.types[block.kind].get(block.type)
    if found is None:
        return [unknown_type(block, schema, sources, schemas)]
    page, block_id = found
    checker = _Checker(block, page, schema)
    arguments = {key: value for key, value in block.body.items() if key not in META[block.kind]}
    checker.body(arguments, schema.blocks[block_id], "")
    checker.lifecycle(block.kind, block.body.get("lifecycle"))
    return checker.problems


def unknown_type(
    block: Declared, schema: Schema, sources: Mapping[str, str], schemas: Mapping[str, Schema]
) -> Problem:
    """A type the block's provider lacks: in another provider (google-beta) or misspelt."""
    what = "resource type" if block.kind == "resource" else "data source"
    for other in schemas.values():
        if block.type in other.types[block.kind]:
            local = next((n for n, s in sources.items() if s == other.provider), other.provider)
            message = (
                f"{what} {block.type} is not in {schema.provider} {schema.version}, only in "
                f"{other.provider}: set provider = {local}"
            )
            return Problem(
                block.file, block.address, "", message, other.types[block.kind][block.type][0]
            )
    message = f"no {what} {block.type} in {schema.provider} {schema.version}" + suggestion(
        block.type, schema.types[block.kind]
    )
    return Problem(block.file, block.address, "", message, schema.docs)


def check(files: Mapping[str, Mapping[str, Any]], schemas: Mapping[str, Schema]) -> Report:
    """Every resource and data block of a module (file name -> parsed .tf) against `schemas`."""
    sources = provider_sources(files.values())
    blocks = list(declared(files))
    problems = [problem for block in blocks for problem in check_block(block, sources, schemas)]
    return Report(tuple(block.address for block in blocks), tuple(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="write DIR/<provider>.json from provider wheels")
    index.add_argument("wheels", nargs="+", type=Path)
    index.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        write_indexes(args.wheels, args.out)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, tarfile.TarError) as error:
        print(f"error: cannot index the provider schemas: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
