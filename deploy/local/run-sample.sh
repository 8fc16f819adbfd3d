#!/usr/bin/env bash
# The embedded default end to end on the bundled sample: upload a Labelbox export and its images, start the
# convert, records and train services, publish one request that chains them (request.json), and wait for COCO,
# splits, the label report, the TFRecord shards and a trained, evaluated, exported detector. No COCO checkpoint
# can be downloaded offline, so the sample trains the tiny RetinaNet from scratch; see README for fine-tuning.
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
echo "training logs: $TRANSFERLINE_DATA_DIR/train.log"
TF_CPP_MIN_LOG_LEVEL=2 "${cli[@]}" serve train 2>"$TRANSFERLINE_DATA_DIR/train.log" &
train=$!
trap 'kill $convert $records $train 2>/dev/null || true' EXIT
"${cli[@]}" publish convert --job "$job" --payload "$sample/request.json" --wait --timeout 1200
kill -TERM "$convert" "$records" "$train"  # the services stop after their current message
wait "$convert" "$records" "$train"
"${cli[@]}" status "$job"
artifacts=$TRANSFERLINE_DATA_DIR/store/transferline/jobs/$job
cat "$artifacts/labels/report.md"
ls "$artifacts/records"
ls "$artifacts/models/run1"
python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print({k: m[k] for k in ("ap", "ap50", "ap75")})' \
  "$artifacts/models/run1/eval/metrics.json"
echo "artifacts: $artifacts/"
