"""What an in-place update of the running Dataflow job depends on, and whether a change keeps it.

Dataflow's compatibility check on `--update` ("Updating an existing pipeline",
https://cloud.google.com/dataflow/docs/guides/updating-a-pipeline, sections "Compatibility
check", "Map transform names" and "Change the coder") refuses a replacement job when:

1. a step of the running job has no step of the same name in the new graph and no
   `--transform_name_mapping` entry (Beam: `GoogleCloudOptions.transform_name_mapping` in
   apache_beam/options/pipeline_options.py); a mapping of a composite renames its inner steps too;
2. the coder of data Dataflow keeps between bundles changes: the input of a GroupByKey and the
   key and state of a stateful DoFn (Streaming Engine holds them across the update);
3. the state or timers a stateful step declares change (name, kind, coder, time domain).

`pipeline/update_contract.json` is exactly that, generated from the graph `build_pipeline` makes
(its runner-API proto): every step name, and for each stateful step (stateful ParDo or
GroupByKey) its input coder, state and timer specs. `pipeline/update_mappings.json` records the
step from the previous contract to this one: `from` (the previous contract), `strategy`
(`update` or `replace`), `transform_name_mappings` (old name -> new name) and `why`.

    python -m pipeline.update_contract                  # print the contract of this tree
    python -m pipeline.update_contract --write [--map OLD=NEW ...] [--replace --why TEXT]
    python -m pipeline.update_contract --against REV    # verdict for a job running commit REV

`--against` prints `update` or `replace` on the first line, then the mapping as gcloud's
`--transform-name-mappings` takes it (JSON) or the reasons for replacing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Beam is imported only where a graph is built: the verdict of `--against FILE --target FILE`
# runs without it (scripts/deploy.sh, also in Cloud Build's gcloud image, which has no Beam).
if TYPE_CHECKING:
    import apache_beam as beam
    from apache_beam.portability.api import beam_runner_api_pb2 as runner_api

HERE = Path(__file__).resolve().parent
CONTRACT_FILE = HERE / "update_contract.json"
MAPPINGS_FILE = HERE / "update_mappings.json"
UPDATE, REPLACE = "update", "replace"
PARDO = "beam:transform:pardo:v1"
GROUP_BY_KEY = "beam:transform:group_by_key:v1"
# The graph depends on no option value but its shape; these are valid placeholders.
GRAPH_ARGS = [
    "--input_subscription=projects/contract-project/subscriptions/customers-dataflow",
    "--output_table=contract-project:customer_stream.customers",
]

Contract = dict[str, Any]


def describe_coder(components: runner_api.Components, coder_id: str) -> str:
    """A coder as `urn(component, ...)`. A pickled coder's payload varies per build: its urn says
    it is pickled, and what it pickles is the input type the step names."""
    coder = components.coders[coder_id]
    inner = [describe_coder(components, c) for c in coder.component_coder_ids]
    return coder.spec.urn + (f"({', '.join(inner)})" if inner else "")


def _state_spec(components: runner_api.Components, spec: runner_api.StateSpec) -> str:
    kind = spec.WhichOneof("spec")
    coder_id = getattr(spec, kind).coder_id if hasattr(getattr(spec, kind), "coder_id") else ""
    return f"{kind} {describe_coder(components, coder_id)}" if coder_id else kind


def _stateful_step(components: runner_api.Components, step: runner_api.PTransform) -> dict | None:
    (input_id,) = step.inputs.values() if len(step.inputs) == 1 else (None,)
    if input_id is None:
        return None
    entry: dict[str, Any] = {
        "input_coder": describe_coder(components, components.pcollections[input_id].coder_id)
    }
    if step.spec.urn == GROUP_BY_KEY:
        return entry
    from apache_beam.portability.api import beam_runner_api_pb2 as runner_api  # noqa: PLC0415

    payload = runner_api.ParDoPayload.FromString(step.spec.payload)
    if not payload.state_specs and not payload.timer_family_specs:
        return None
    entry["state"] = {
        name: _state_spec(components, spec) for name, spec in sorted(payload.state_specs.items())
    }
    entry["timers"] = {
        name: runner_api.TimeDomain.Enum.Name(spec.time_domain)
        for name, spec in sorted(payload.timer_family_specs.items())
    }
    return entry


def contract_of(pipeline: beam.Pipeline) -> Contract:
    """The update contract of a built pipeline."""
    components = pipeline.to_runner_api().components
    steps = {t.unique_name: t for t in components.transforms.values() if t.unique_name}
    stateful = {}
    for name, step in sorted(steps.items()):
        if step.spec.urn in (PARDO, GROUP_BY_KEY):
            entry = _stateful_step(components, step)
            if entry is not None:
                stateful[name] = entry
    return {"steps": sorted(steps), "stateful_steps": stateful}


def current_contract() -> Contract:
    """The contract of `build_pipeline` in this tree."""
    import apache_beam as beam  # noqa: PLC0415 - a graph is built only here

    from pipeline.main import build_pipeline, parse_options  # noqa: PLC0415
    from pipeline.options import CustomerPipelineOptions  # noqa: PLC0415

    options = parse_options(GRAPH_ARGS)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, options.view_as(CustomerPipelineOptions))
    return contract_of(pipeline)


def mapped(name: str, mappings: dict[str, str]) -> str:
    """`name` after the mappings; a mapping of a composite renames the steps inside it."""
    for old, new in mappings.items():
        if name == old or name.startswith(old + "/"):
            return new + name[len(old) :]
    return name


@dataclass
class Verdict:
    """What deploying `new` onto a job running `old` takes."""

    strategy: str
    mappings: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def verdict(old: Contract, new: Contract, mappings: dict[str, str]) -> Verdict:
    """`update` when Dataflow's compatibility check would pass with these mappings, else
    `replace` with the reasons. Only the mappings of steps the old job has are kept."""
    new_steps = set(new["steps"])
    used = {o: n for o, n in mappings.items() if o in old["steps"] and o not in new_steps}
    reasons = [
        f"step {name!r} is gone and no mapping names its new name"
        for name in old["steps"]
        if mapped(name, used) not in new_steps
    ]
    for name, before in old["stateful_steps"].items():
        after = new["stateful_steps"].get(mapped(name, used))
        if after is not None and after != before:
            reasons.append(
                f"stateful step {name!r} changed its coders or state: {before} -> {after}"
            )
    return Verdict(REPLACE if reasons else UPDATE, {} if reasons else used, reasons)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def at_revision(revision: str, path: Path) -> Any:
    """A committed file of this repository at `revision` (a commit, a tag, a branch)."""
    relative = path.relative_to(HERE.parent).as_posix()
    shown = subprocess.run(
        ["git", "-C", str(HERE.parent), "show", f"{revision}:{relative}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode:
        raise SystemExit(
            f"python -m pipeline.update_contract: error: no {relative} at {revision}: "
            f"{shown.stderr.strip()}"
        )
    return json.loads(shown.stdout)


def deploy_verdict(
    running: Contract, running_mappings: dict, target: Contract, target_mappings: dict
) -> Verdict:
    """Deploying `target` onto a job of `running`: the target's mappings, and for a rollback the
    running version's mappings reversed."""
    mappings = dict(target_mappings.get("transform_name_mappings", {}))
    if running_mappings.get("from") == target:
        mappings.update(
            {n: o for o, n in running_mappings.get("transform_name_mappings", {}).items()}
        )
    return verdict(running, target, mappings)


def _contract_at(source: str) -> tuple[Contract, dict]:
    """The contract and mappings of a contract file (its mappings file beside it, if any) or of
    a git revision."""
    path = Path(source)
    if path.is_file():
        mappings_path = path.with_name(MAPPINGS_FILE.name)
        return load(path), load(mappings_path) if mappings_path.is_file() else {}
    return at_revision(source, CONTRACT_FILE), at_revision(source, MAPPINGS_FILE)


def write(mappings: dict[str, str], replace: bool, why: str) -> str:
    """Regenerates the committed contract; a change records its step in the mappings file.

    Refuses a change an update cannot take unless `replace` says so, with a reason."""
    new = current_contract()
    old = load(CONTRACT_FILE) if CONTRACT_FILE.is_file() else new
    if old == new and CONTRACT_FILE.is_file():
        return "update contract unchanged"
    step = verdict(old, new, mappings)
    if step.strategy == REPLACE and not replace:
        raise SystemExit(
            "python -m pipeline.update_contract: error: this graph cannot update the previous "
            "one in place:\n  " + "\n  ".join(step.reasons) + "\nmap each renamed step "
            "(--map OLD=NEW) or deploy by replacing the job (--replace --why '...')"
        )
    if replace and not why:
        raise SystemExit("python -m pipeline.update_contract: error: --replace needs --why")
    record = {
        "from": old,
        "strategy": REPLACE if replace else step.strategy,
        "transform_name_mappings": step.mappings if not replace else mappings,
        "why": why,
    }
    CONTRACT_FILE.write_text(dump(new))
    MAPPINGS_FILE.write_text(dump(record))
    return f"wrote {CONTRACT_FILE.name} and {MAPPINGS_FILE.name}: {record['strategy']}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.update_contract",
        description="The update-compatibility contract of the pipeline's graph "
        "(make update-contract writes it).",
    )
    parser.add_argument("--write", action="store_true", help="regenerate the committed files")
    parser.add_argument("--map", action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--replace", action="store_true", help="the change needs a replace")
    parser.add_argument("--why", default="", help="why the contract changes")
    parser.add_argument(
        "--against", metavar="REV_OR_FILE", help="verdict for a job running this version"
    )
    parser.add_argument(
        "--target", metavar="REV_OR_FILE", help="the version to deploy (default: this tree)"
    )
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.map):
        parser.error("--map takes OLD=NEW")
    return args


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    mappings = dict(pair.split("=", 1) for pair in args.map)
    if args.write:
        print(write(mappings, args.replace, args.why))
        return
    if not args.against:
        sys.stdout.write(dump(current_contract()))
        return
    running, running_mappings = _contract_at(args.against)
    if args.target:
        target, target_mappings = _contract_at(args.target)
    else:
        target, target_mappings = current_contract(), load(MAPPINGS_FILE)
    result = deploy_verdict(running, running_mappings, target, target_mappings)
    print(result.strategy)
    print(json.dumps(result.mappings, sort_keys=True) if result.strategy == UPDATE else "")
    for reason in result.reasons:
        print(reason, file=sys.stderr)


if __name__ == "__main__":
    main()
