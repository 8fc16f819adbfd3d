"""A commit the bus refuses (Kafka does so while its group rebalances) is retried on its own: the work is done once
and its completion emitted once, not again with every refused commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.harness import Pipeline, unique
from tests.support.stages import stage_named
from transferline import events
from transferline.bus import Consumer, Message
from transferline.errors import TransientError
from transferline.settings import Settings


class RefusingCommits:
    """The real embedded consumer, but its first `refusals` commits fail as a rebalancing Kafka group's do."""

    def __init__(self, consumer: Consumer, refusals: int) -> None:
        self.consumer, self.refusals = consumer, refusals

    def commit(self, message: Message) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            raise TransientError("offset commit failed: rebalance in progress (refused by the test)")
        self.consumer.commit(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consumer, name)


def test_a_refused_commit_is_retried_without_redoing_the_work(embedded_settings: Settings, tmp_path: Path) -> None:
    with Pipeline.open(embedded_settings) as pipeline:
        stage = stage_named(unique("copy"))()
        job, ledger = unique("job-"), tmp_path / "ledger"
        pipeline.request(stage.name, job, text="once", ledger=str(ledger))
        runner = pipeline.runner(stage)
        opened = runner.bus.consumer
        runner.bus.consumer = lambda topic, group: RefusingCommits(opened(topic, group), refusals=3)  # type: ignore[method-assign]

        assert runner.run(max_events=1) == 1

        later = unique("job-")
        pipeline.request(stage.name, later, text="next", ledger=str(ledger))
        assert pipeline.runner(stage).run(max_events=1) == 1  # takes the next request: the first one was committed
        assert [line.split()[0] for line in ledger.read_text().splitlines()] == [job, later]
        emitted = [m for m in pipeline.read(events.EVENTS_TOPIC, lambda _: False, timeout=1) if m["subject"] == job]
        assert [m["type"] for m in emitted] == [f"transferline.{stage.name}.completed"]  # once, never replayed
