#!/usr/bin/env bash
# Schema conformance of liftinfer's constraint layer, with raw xgrammar measured in the same run.
# Writes the summaries and per-schema rows under benchmarks/results/ and prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${LIFTINFER_DATA:-../shared/data}
machine=${LIFTINFER_MACHINE:-"2-core CPU dev box"}
# the project's venv (README's test command makes it) when the command is not on PATH
liftinfer=$(command -v liftinfer || echo .venv/bin/liftinfer)
for corpus in jsonschemabench-dev json-schema-test-suite/draft2020-12; do
  name=$(basename "$corpus")
  [ "$name" = draft2020-12 ] && name=json-schema-test-suite-draft2020-12
  "$liftinfer" conformance "$data/$corpus" --machine "$machine" \
    --output "benchmarks/results/conformance-$name.json" \
    --rows "benchmarks/results/conformance-$name-rows.jsonl"
done
