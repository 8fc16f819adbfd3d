#!/usr/bin/env bash
# Pretrains the demo's base detector on a related generated task (balls, boxes, cups on other backgrounds than
# the sample's bottles and cans), as COCO pretraining would if a COCO checkpoint could be fetched offline. It runs
# the product's own commands (convert, records, train from scratch) and packs the checkpoint as Model Garden
# publishes its own: base/ckpt-N.{index,data-*}, base/checkpoint, base/params.yaml in a .tar.gz.
# Usage: deploy/local/base/make-base.sh [WORK_DIR]  (writes deploy/local/base/base.tar.gz and base.sha256)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-var/base-build}
steps=${BASE_STEPS:-1000}
cli=(.venv/bin/transferline)
here=deploy/local/base
rm -rf "$work"
.venv/bin/python deploy/local/sample/generate.py --task base --seed 7 --images 240 --out "$work/sample"
"${cli[@]}" convert "$work/sample/export.ndjson" --images "$work/sample/images" --out "$work/labels" \
  --split train=0.9,val=0.1 >/dev/null
"${cli[@]}" records "$work/labels" --images "$work/sample/images" --out "$work/records" --num-shards 1 >/dev/null
TF_CPP_MIN_LOG_LEVEL=2 nice -n 10 "${cli[@]}" train "$work/records" --labels "$work/labels" \
  --images "$work/sample/images" --out "$work/run" \
  --set model=retinanet_tiny --set input_size=128 --set batch_size=8 --set learning_rate=0.08 \
  --set warmup_steps=50 --set from_scratch=true --set steps="$steps" --set checkpoint_every="$steps"
mkdir -p "$work/pack/base"
cp "$work/run/checkpoints/ckpt-$steps".* "$work/run/params.yaml" "$work/pack/base/"
printf 'model_checkpoint_path: "ckpt-%s"\n' "$steps" >"$work/pack/base/checkpoint"
# Sorted, owner-free, time-free: the archive's bytes depend on the checkpoint's alone.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/pack" -cf - base | gzip -n -9 \
  >"$here/base.tar.gz"
sha256sum "$here/base.tar.gz" | cut -d' ' -f1 >"$here/base.sha256"
.venv/bin/python -c 'import json, sys; ap50 = json.load(open(sys.argv[1]))["ap50"]; print(f"base mAP@0.5 = {ap50:.2f}")' \
  "$work/run/eval/metrics.json"
echo "$here/base.tar.gz: $(du -h "$here/base.tar.gz" | cut -f1), sha256 $(cat "$here/base.sha256")"
