"""The update-compatibility contract: generated from the graph, committed, and every change to it
recorded with the mappings (or the explicit replace) an in-place Dataflow update needs."""

from __future__ import annotations

import copy
import json

import apache_beam as beam
import pytest

from pipeline import dedupe, main, update_contract
from pipeline.update_contract import REPLACE, UPDATE
from tests.support import run_python

COMMITTED = update_contract.load(update_contract.CONTRACT_FILE)
RECORD = update_contract.load(update_contract.MAPPINGS_FILE)
DEDUPE = "ToCustomerRows/Deduplicate/DropRepeats"


@pytest.fixture(scope="module")
def current():
    return update_contract.current_contract()


def test_the_committed_contract_is_the_graphs(current):
    assert current == COMMITTED, (
        "the graph's update contract changed: run `make update-contract` (with ARGS='--map "
        "OLD=NEW' for a renamed step, or ARGS=\"--replace --why '...'\") and say why in the commit"
    )


def test_the_last_change_of_the_contract_is_mapped_or_an_explicit_replace():
    """From the previous contract to the committed one, either
    Dataflow's compatibility check passes with the recorded mappings, or the record says replace."""
    step = update_contract.verdict(RECORD["from"], COMMITTED, RECORD["transform_name_mappings"])
    assert RECORD["strategy"] in (UPDATE, REPLACE)
    if RECORD["strategy"] == UPDATE:
        assert step.strategy == UPDATE, step.reasons
        assert step.mappings == RECORD["transform_name_mappings"]
    else:
        assert RECORD["why"], "a replace says why"


def test_the_contract_holds_the_dedupe_state_and_the_sinks_buffers(current):
    stateful = current["stateful_steps"]
    assert stateful[DEDUPE]["state"] == {"seen": "read_modify_write_spec beam:coder:bool:v1"}
    assert stateful[DEDUPE]["timers"] == {"ts-expiry": "PROCESSING_TIME"}
    assert stateful[DEDUPE]["input_coder"].startswith("beam:coder:kv:v1(beam:coder:string_utf8")
    assert sum(name.endswith("CommitInsertIds/GroupByKey") for name in stateful) == 3
    assert {"ReadPubSub", "ToCustomerRows/Parse", "WriteCustomers", "WriteDeadLetters"} <= set(
        current["steps"]
    )


class _RenamedDeduplicate(dedupe.DeduplicateCustomers):
    """The real dedupe with its stateful step renamed, as a refactoring might."""

    def expand(self, rows):
        return (
            rows
            | "KeyByCustomerId"
            >> beam.Map(lambda row: (row["customer_id"], row)).with_output_types(
                tuple[str, dedupe.Row]
            )
            | "DropRepeatedCustomers" >> beam.ParDo(dedupe.DeduplicateFn(self._window_seconds))
        )


def test_a_renamed_step_needs_a_mapping_or_a_replace(monkeypatch, current):
    monkeypatch.setattr(dedupe.DeduplicateCustomers, "expand", _RenamedDeduplicate.expand)
    renamed = update_contract.current_contract()
    new_name = "ToCustomerRows/Deduplicate/DropRepeatedCustomers"
    assert new_name in renamed["stateful_steps"] and DEDUPE not in renamed["steps"]

    unmapped = update_contract.verdict(current, renamed, {})
    assert unmapped.strategy == REPLACE
    assert unmapped.reasons == [f"step {DEDUPE!r} is gone and no mapping names its new name"]

    mapped = update_contract.verdict(current, renamed, {DEDUPE: new_name})
    assert (mapped.strategy, mapped.mappings) == (UPDATE, {DEDUPE: new_name})


def test_a_renamed_composite_maps_every_step_inside_it(current):
    renamed = copy.deepcopy(current)
    rename = {"ToCustomerRows": "BuildCustomerRows"}
    renamed["steps"] = sorted(update_contract.mapped(s, rename) for s in current["steps"])
    renamed["stateful_steps"] = {
        update_contract.mapped(s, rename): v for s, v in current["stateful_steps"].items()
    }
    assert update_contract.verdict(current, renamed, {}).strategy == REPLACE
    assert update_contract.verdict(current, renamed, rename).strategy == UPDATE


def test_a_changed_state_coder_or_timer_needs_a_replace(current):
    for field, value in (("state", {"seen": "bag_spec beam:coder:bool:v1"}), ("timers", {})):
        changed = copy.deepcopy(current)
        changed["stateful_steps"][DEDUPE][field] = value
        step = update_contract.verdict(current, changed, {})
        assert step.strategy == REPLACE and DEDUPE in step.reasons[0]


def test_an_added_step_updates_in_place(monkeypatch, current):
    ingest = main.ingest
    monkeypatch.setattr(
        "pipeline.main.ingest",
        lambda messages, options, **kwargs: ingest(
            messages | "Audit" >> beam.Map(lambda m: m), options, **kwargs
        ),
    )
    added = update_contract.current_contract()
    assert "Audit" in added["steps"]
    assert update_contract.verdict(current, added, {}) == update_contract.Verdict(UPDATE)


def test_a_rollback_takes_the_running_versions_mappings_reversed(current):
    old_name, new_name = DEDUPE, DEDUPE.replace("DropRepeats", "DropRepeatedCustomers")
    newer = json.loads(json.dumps(current).replace(old_name, new_name))
    newer_record = {"from": current, "transform_name_mappings": {old_name: new_name}}
    back = update_contract.deploy_verdict(newer, newer_record, current, {})
    assert (back.strategy, back.mappings) == (UPDATE, {new_name: old_name})
    forward = update_contract.deploy_verdict(current, {}, newer, newer_record)
    assert (forward.strategy, forward.mappings) == (UPDATE, {old_name: new_name})


def test_against_a_contract_file_prints_the_verdict_and_the_gcloud_mapping(tmp_path, capsys):
    old = json.loads(json.dumps(COMMITTED).replace("DropRepeats", "OldDropRepeats"))
    (tmp_path / "update_contract.json").write_text(json.dumps(old))
    update_contract.main(["--against", str(tmp_path / "update_contract.json")])
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == REPLACE and "OldDropRepeats" in err

    update_contract.main(
        [
            "--against",
            str(tmp_path / "update_contract.json"),
            "--target",
            str(tmp_path / "update_contract.json"),
        ]
    )
    assert capsys.readouterr().out.splitlines() == [UPDATE, "{}"]


def test_write_refuses_an_unmapped_rename(monkeypatch, tmp_path):
    monkeypatch.setattr(update_contract, "CONTRACT_FILE", tmp_path / "update_contract.json")
    monkeypatch.setattr(update_contract, "MAPPINGS_FILE", tmp_path / "update_mappings.json")
    (tmp_path / "update_contract.json").write_text(
        json.dumps(json.loads(json.dumps(COMMITTED).replace("DropRepeats", "OldDropRepeats")))
    )
    with pytest.raises(SystemExit, match="--map OLD=NEW"):
        update_contract.write({}, replace=False, why="")
    assert "OldDropRepeats" in (tmp_path / "update_contract.json").read_text()

    old, new = f"{DEDUPE}".replace("DropRepeats", "OldDropRepeats"), DEDUPE
    assert update_contract.write({old: new}, replace=False, why="renamed").endswith(UPDATE)
    record = update_contract.load(tmp_path / "update_mappings.json")
    assert record["transform_name_mappings"] == {old: new}
    assert update_contract.load(tmp_path / "update_contract.json") == COMMITTED


# An interpreter in which `import apache_beam` fails, as in Cloud Build's gcloud image.
NO_BEAM = """
import sys
class NoBeam:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "apache_beam":
            raise ImportError("no Beam here")
sys.meta_path.insert(0, NoBeam())
sys.argv = ["update_contract", *sys.argv[1:]]
import runpy
runpy.run_module("pipeline.update_contract", run_name="__main__")
"""


def test_the_deploy_verdict_of_two_contract_files_runs_without_beam(tmp_path):
    """scripts/deploy.sh asks for the verdict with the system's python3 (in Cloud Build, the
    gcloud image's, which has no Beam): only building a graph may import Beam."""
    renamed = json.loads(json.dumps(COMMITTED).replace("ToCustomerRows/Parse", "ParseCustomers"))
    (tmp_path / "running").mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "running" / "update_contract.json").write_text(json.dumps(COMMITTED))
    (tmp_path / "target" / "update_contract.json").write_text(json.dumps(renamed))
    (tmp_path / "target" / "update_mappings.json").write_text(
        json.dumps({"transform_name_mappings": {"ToCustomerRows/Parse": "ParseCustomers"}})
    )
    files = [str(tmp_path / side / "update_contract.json") for side in ("running", "target")]
    result = run_python("-c", NO_BEAM, "--against", files[0], "--target", files[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [UPDATE, '{"ToCustomerRows/Parse": "ParseCustomers"}']
