"""The training loop: Model Garden's own `train_lib.run_experiment`, with actions between loops that report
progress, publish checkpoints, and stop cleanly on SIGTERM (checkpoint first) or at the wall-time limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferline.errors import Interrupted
from transferline_trainer.catalogue import ModelSpec
from transferline_trainer.transfer import TransferPlan, TransferReport, build_weights, transfer

Progress = Callable[[int, int, str, dict[str, float]], None]  # (done, total, message, numbers worth showing)


@dataclass(frozen=True)
class FitHooks:
    progress: Progress  # steps done, total steps, losses and speeds
    checkpointed: Callable[[Path], None]  # a checkpoint was written under the model folder: publish it
    stopping: Callable[[], bool]  # the service is shutting down


@dataclass
class FitResult:
    step: int
    stopped_early: bool = False
    seconds: float = 0.0
    steps_per_second: float = 0.0
    transfer: TransferReport | None = None
    losses: dict[str, float] = field(default_factory=dict)


class _WallTimeReached(Exception):
    """Training stopped at max_wall_seconds; evaluation and export go on with the last checkpoint."""


def fit(
    config: Any,
    spec: ModelSpec,
    plan: TransferPlan | None,
    model_dir: Path,
    hooks: FitHooks,
    max_wall_seconds: float | None = None,
) -> FitResult:
    import tensorflow as tf
    from official.core import task_factory, train_lib, train_utils
    from official.modeling import performance

    performance.set_mixed_precision_policy(config.runtime.mixed_precision_dtype)
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        task = task_factory.get_task(config.task, logging_dir=str(model_dir))
        result = FitResult(step=0)
        if plan is not None:
            task.initialize = _transfer_initializer(config, spec, plan, result)  # runs only when no checkpoint exists
        trainer = train_utils.create_trainer(config, task, train=True, evaluate=False)
    action = _LoopAction(trainer, config, model_dir, hooks, result, max_wall_seconds)
    try:
        train_lib.run_experiment(
            distribution_strategy=strategy,
            task=task,
            mode="train",
            params=config,
            model_dir=str(model_dir),
            train_actions=[action],
            trainer=trainer,
            controller_cls=_publishing_controller(lambda: hooks.checkpointed(model_dir)),
        )
    except _WallTimeReached:
        result.stopped_early = True
    finally:
        performance.set_mixed_precision_policy("float32")
    result.step = int(trainer.global_step.numpy())
    result.seconds = time.monotonic() - action.started
    hooks.checkpointed(model_dir)
    return result


def _transfer_initializer(config: Any, spec: ModelSpec, plan: TransferPlan, result: FitResult) -> Callable[[Any], None]:
    def initialize(model: Any) -> None:
        build_weights(model, config)
        result.transfer = transfer(model, config, plan, spec.family)

    return initialize


def _publishing_controller(saved: Callable[[], None]) -> type:
    """Orbit's controller, publishing each checkpoint as soon as it is written."""
    import orbit

    class PublishingController(orbit.Controller):  # type: ignore[misc]
        def _maybe_save_checkpoint(self, check_interval: bool = True) -> bool:
            wrote = bool(super()._maybe_save_checkpoint(check_interval))
            if wrote:
                saved()
            return wrote

    return PublishingController


class _LoopAction:
    """Called by Orbit after every loop of `steps_per_loop` steps, with that loop's averaged outputs."""

    def __init__(
        self, trainer: Any, config: Any, model_dir: Path, hooks: FitHooks, result: FitResult, wall: float | None
    ) -> None:
        self.trainer, self.config, self.model_dir, self.hooks = trainer, config, model_dir, hooks
        self.result, self.wall = result, wall
        self.started = time.monotonic()
        self.last: tuple[float, int] | None = None  # (time, step) after the first loop: tracing excluded from speed

    def __call__(self, output: dict[str, Any]) -> None:
        step, total = int(self.trainer.global_step.numpy()), int(self.config.trainer.train_steps)
        now = time.monotonic()
        losses = {name: float(np.asarray(value)) for name, value in output.items()}
        if self.last is not None and step > self.last[1]:
            self.result.steps_per_second = (step - self.last[1]) / max(now - self.last[0], 1e-9)
        self.last = self.last or (now, step)
        speed = self.result.steps_per_second
        batch = self.config.task.train_data.global_batch_size
        eta = (total - step) / speed if speed else -1.0
        self.result.losses = losses
        speeds = {"steps_per_second": speed, "images_per_second": speed * batch, "eta_seconds": eta}
        self.hooks.progress(step, total, f"step {step} of {total}", {**losses, **speeds})
        if self.hooks.stopping():
            self._save(step)
            raise Interrupted(f"stopped at step {step} of {total}; a restart resumes from this checkpoint")
        if self.wall is not None and now - self.started >= self.wall and step < total:
            self._save(step)
            raise _WallTimeReached()

    def _save(self, step: int) -> None:
        import tensorflow as tf

        manager = tf.train.CheckpointManager(
            self.trainer.checkpoint, str(self.model_dir), max_to_keep=self.config.trainer.max_to_keep
        )
        manager.save(checkpoint_number=step)
        self.hooks.checkpointed(self.model_dir)
