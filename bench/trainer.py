"""Training benches, on a learnable generated task (tests/support/shapes.py) with the tiny RetinaNet on CPU.

1. Loop overhead: this service's training (`transferline_trainer.fit`: progress callbacks, every checkpoint published
   to a store, stop checks) beside a bare `train_lib.run_experiment` with the same config and data. Each runs in
   its own subprocess, alternating; only the training call is timed (imports and data generation are not).
2. Transfer effectiveness: pretrain on task A (circle, square, triangle), then fine-tune on a related task B
   (circle, diamond, cross) from few images, beside training B from scratch with the same step budget. Both run
   as `transferline train` (the base served over local HTTP as a checkpoint archive) and are evaluated with
   pycocotools on B's validation split; mAP@0.5 of both and their ratio.
Usage: python -m bench.trainer [--overhead-steps 300] [--repeat 2] [--budget 150] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.http import serve_files
from tests.support.shapes import write_task
from tests.support.training import archive_checkpoint, tiny_config, write_records

TINY = {"model": "retinanet_tiny", "input_size": 128, "batch_size": 8, "learning_rate": 0.08, "warmup_steps": 20}
TASK_A, TASK_B = ("circle", "square", "triangle"), ("circle", "diamond", "cross")


def time_training(root: Path, mode: str, steps: int, out: Path) -> float:
    """In a subprocess: one mode's training call on the task under `root`, in seconds."""
    from transferline.settings import Settings
    from transferline.store import open_store
    from transferline_trainer.catalogue import lookup
    from transferline_trainer.fit import FitHooks, fit
    from transferline_trainer.job import StoreOutputs
    from transferline_trainer.run import CheckpointSync

    config = tiny_config(root, **TINY, steps=steps, checkpoint_every=100, from_scratch=True)
    started = time.perf_counter()
    if mode == "bare":
        import tensorflow as tf
        from official.core import task_factory, train_lib

        task = task_factory.get_task(config.task, logging_dir=str(out))
        strategy = tf.distribute.get_strategy()
        train_lib.run_experiment(
            distribution_strategy=strategy, task=task, mode="train", params=config, model_dir=str(out)
        )
    else:
        sync = CheckpointSync(StoreOutputs(open_store(Settings(data_dir=out / "store")), "bench", "overhead"))
        sent: list[str] = []
        hooks = FitHooks(lambda done, total, message, values: sent.append(json.dumps(values)), sync, lambda: False)
        fit(config, lookup("retinanet_tiny"), None, out / "model", hooks)
    return time.perf_counter() - started


def overhead(root: Path, steps: int, repeat: int) -> None:
    seconds: dict[str, list[float]] = {"bare": [], "transferline": []}
    for _ in range(repeat):
        for mode in seconds:
            with tempfile.TemporaryDirectory() as out:
                child = [sys.executable, "-m", "bench.trainer", "--child", mode, str(root), str(steps), out]
                done = subprocess.run(child, capture_output=True, text=True, check=True)
                seconds[mode].append(float(done.stdout.strip().splitlines()[-1]))
    bare, ours = statistics.median(seconds["bare"]), statistics.median(seconds["transferline"])
    print(f"\n## Training-loop overhead: {steps} steps, batch {TINY['batch_size']}, {TINY['input_size']} px, CPU")
    print("| loop | seconds (median) | runs |\n|---|---|---|")
    print(f"| bare train_lib.run_experiment | {bare:.2f} | {', '.join(f'{s:.2f}' for s in seconds['bare'])} |")
    print(f"| transferline fit | {ours:.2f} | {', '.join(f'{s:.2f}' for s in seconds['transferline'])} |")
    print(f"ours / bare = {ours / bare:.3f} ({(ours / bare - 1) * 100:+.1f} %; goal <= +3 %)")


def train(root: Path, out: Path, settings: dict[str, object]) -> dict:
    args = ["train", str(root / "records"), "--labels", str(root / "labels"), "--images", str(root / "images")]
    sets = [
        f"--set={key}={json.dumps(value) if not isinstance(value, str) else value}" for key, value in settings.items()
    ]
    command = [sys.executable, "-m", "transferline.cli", *args, "--out", str(out), *sets]
    loopback = {**os.environ, "TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS": "127.0.0.0/8"}  # the served base checkpoint
    subprocess.run(command, check=True, capture_output=True, text=True, env=loopback)
    return json.loads((out / "eval" / "metrics.json").read_text())


def transfer(work: Path, budget: int, pretrain: int) -> None:
    task_a = write_task(work / "a", TASK_A, train=64, val=16, seed=21)
    task_b = write_task(work / "b", TASK_B, train=12, val=24, seed=41)
    for split in ("train", "val"):  # the converter's category_map: B's circle is A's class 1
        path = task_b / "labels" / f"coco_{split}.json"
        coco = json.loads(path.read_text())
        coco["categories"][0]["coco_id"] = 1
        path.write_text(json.dumps(coco))
    write_records(task_a)
    write_records(task_b)
    base = train(task_a, work / "base", {**TINY, "steps": pretrain, "from_scratch": True})
    archive_checkpoint(work / "base", work / "serve" / "base.tar.gz")
    common = {**TINY, "steps": budget, "checkpoint_every": budget}
    with serve_files(work / "serve") as url:
        tuned = train(task_b, work / "tuned", {**common, "base_checkpoint": f"{url}/base.tar.gz"})
    scratch = train(task_b, work / "scratch", {**common, "from_scratch": True})
    longer = {**common, "steps": budget * 4, "checkpoint_every": budget * 4, "from_scratch": True}
    scratch_longer = train(task_b, work / "scratch-longer", longer)
    print(f"\n## Transfer: task A {pretrain} steps (mAP@0.5 {base['ap50']:.3f} on A)")
    print(f"Then task B: 12 training images, {budget} steps, evaluated on 24")
    print("| task B run | mAP@0.5 | mAP@[.5:.95] | per-class AP@0.5 |\n|---|---|---|---|")
    runs = (
        ("fine-tuned from A", tuned),
        ("from scratch", scratch),
        (f"from scratch, {budget * 4} steps", scratch_longer),
    )
    for name, metrics in runs:
        per_class = ", ".join(f"{k} {v:.2f}" for k, v in metrics["per_class_ap50"].items() if v is not None)
        print(f"| {name} | {metrics['ap50']:.3f} | {metrics['ap']:.3f} | {per_class} |")
    if scratch["ap50"]:
        print(f"fine-tuned / scratch mAP@0.5 at the same budget = {tuned['ap50'] / scratch['ap50']:.2f}x (goal >= 2x)")
    else:
        print(f"fine-tuned mAP@0.5 {tuned['ap50']:.3f} vs 0 from scratch at the same budget (goal >= 2x: unbounded)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--overhead-steps", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--pretrain", type=int, default=500)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-transfer", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "ROOT", "STEPS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, root, steps, out = args.child
        print(time_training(Path(root), mode, int(steps), Path(out)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as scratch:
        work = Path(scratch)
        if not args.skip_overhead:
            root = write_task(work / "overhead", TASK_A, train=64, val=8, seed=7)
            write_records(root)
            overhead(root, args.overhead_steps, args.repeat)
        if not args.skip_transfer:
            transfer(work, args.budget, args.pretrain)


if __name__ == "__main__":
    main()
