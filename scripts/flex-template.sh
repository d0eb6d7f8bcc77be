#!/usr/bin/env bash
# Write the Flex Template spec of one build: scripts/flex-template.sh gs://B/templates/X.json IMAGE PROJECT
# Run by `make template` and cloudbuild.yaml's template step, in the repository root.
#
# `gcloud dataflow flex-template build` copies only the name, description and parameters of
# metadata.json into the spec it writes: `streaming`, `supportsAtLeastOnce`,
# `supportsExactlyOnce` and `defaultStreamingMode` are dropped (gcloud 528,
# lib/googlecloudsdk/api_lib/dataflow/apis.py, `_BuildTemplateMetadata`), although the spec's
# metadata is Dataflow's TemplateMetadata, which has them. So the spec is gcloud's own
# (`--print-only`), with every metadata.json field gcloud left out put back, then uploaded.
# The build's update contract (pipeline/update_contract.json and update_mappings.json) goes
# beside it, to NAME.update/: scripts/deploy.sh reads it to tell whether this build can update a
# job running another one in place.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 gs://BUCKET/templates/NAME.json IMAGE PROJECT" >&2; exit 2; }
template=$1 image=$2 project=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gcloud dataflow flex-template build "$template" --project="$project" --image="$image" \
  --sdk-language=PYTHON --metadata-file=metadata.json --print-only --format='value(.)' \
  > "$work/gcloud-spec.json"
python3 - metadata.json "$work/gcloud-spec.json" > "$work/spec.json" <<'PY'
import json
import sys

metadata, spec = (json.load(open(path, encoding="utf-8")) for path in sys.argv[1:3])
dropped = {key: value for key, value in metadata.items() if key not in spec["metadata"]}
spec["metadata"].update(dropped)
print(f"metadata fields gcloud dropped, put back: {', '.join(sorted(dropped)) or 'none'}", file=sys.stderr)
json.dump(spec, sys.stdout, indent=2, sort_keys=True)
PY
gcloud storage cp "$work/spec.json" "$template" --project="$project" --content-type=application/json
gcloud storage cp pipeline/update_contract.json pipeline/update_mappings.json \
  "${template%.json}.update/" --project="$project" --content-type=application/json
