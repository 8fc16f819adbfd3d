#!/usr/bin/env bash
# The embedded default end to end on the bundled sample: upload a Labelbox export and its images, start the
# convert service, publish one request and wait for COCO, splits and the label report.
set -euo pipefail
cd "$(dirname "$0")/../.."
job=${1:?usage: run-sample.sh JOB_ID}
export TRANSFERLINE_DATA_DIR=${TRANSFERLINE_DATA_DIR:-var/sample}
export TRANSFERLINE_HTTP_PORT=0 TRANSFERLINE_LOG_FORMAT=text
cli=(.venv/bin/transferline)
sample=deploy/local/sample

"${cli[@]}" upload "$job" --export "$sample/export.ndjson" --images "$sample/images"
"${cli[@]}" serve convert --max-events 1 &
service=$!
trap 'kill $service 2>/dev/null || true' EXIT
"${cli[@]}" publish convert --job "$job" --set seed=1 --wait --timeout 300
wait "$service"
"${cli[@]}" status "$job"
labels=$TRANSFERLINE_DATA_DIR/store/transferline/jobs/$job/labels
cat "$labels/report.md"
echo "artifacts: $labels/"
