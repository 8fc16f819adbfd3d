#!/usr/bin/env bash
# The embedded default end to end: a stage service and a request over the local log and filesystem store.
# Until the pipeline's own stages land, the sample stage is the runner's test stage (copies text to an artifact).
set -euo pipefail
cd "$(dirname "$0")/../.."
job=${1:?usage: run-sample.sh JOB_ID}
export TRANSFERLINE_DATA_DIR=${TRANSFERLINE_DATA_DIR:-var/sample}
export TRANSFERLINE_HTTP_PORT=0 TRANSFERLINE_LOG_FORMAT=text PYTHONPATH=$PWD
cli=(.venv/bin/transferline)
stage=tests.support.stages:CopyStage

"${cli[@]}" serve "$stage" --max-events 1 &
service=$!
trap 'kill $service 2>/dev/null || true' EXIT
"${cli[@]}" publish "$stage" --job "$job" --set text="hello from $job" --set ledger="$TRANSFERLINE_DATA_DIR/ledger" \
  --wait --timeout 120
wait "$service"
"${cli[@]}" status "$job"
echo "artifacts: $TRANSFERLINE_DATA_DIR/store/transferline/jobs/$job/"
