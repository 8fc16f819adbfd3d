#!/usr/bin/env bash
# The embedded default end to end on the bundled sample: upload a Labelbox export and its images, start the
# convert and records services, publish one request that chains them, and wait for COCO, splits, the label
# report and the TFRecord shards.
set -euo pipefail
cd "$(dirname "$0")/../.."
job=${1:?usage: run-sample.sh JOB_ID}
export TRANSFERLINE_DATA_DIR=${TRANSFERLINE_DATA_DIR:-var/sample}
export TRANSFERLINE_HTTP_PORT=0 TRANSFERLINE_LOG_FORMAT=text
cli=(.venv/bin/transferline)
sample=deploy/local/sample

"${cli[@]}" upload "$job" --export "$sample/export.ndjson" --images "$sample/images"
"${cli[@]}" serve convert &
convert=$!
"${cli[@]}" serve records &
records=$!
trap 'kill $convert $records 2>/dev/null || true' EXIT
"${cli[@]}" publish convert --job "$job" --set seed=1 --then records --wait --timeout 600
kill -TERM "$convert" "$records"  # the services stop after their current message
wait "$convert" "$records"
"${cli[@]}" status "$job"
artifacts=$TRANSFERLINE_DATA_DIR/store/transferline/jobs/$job
cat "$artifacts/labels/report.md"
ls "$artifacts/records"
echo "artifacts: $artifacts/"
