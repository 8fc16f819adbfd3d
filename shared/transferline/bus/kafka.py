"""The bus on real Apache Kafka (kafka-python): acks=all idempotent producer, manual offset commits."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from transferline.bus.base import Bus, Consumer, Message
from transferline.errors import TransientError
from transferline.settings import Settings

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 30
TOPIC_METADATA_TIMEOUT_SECONDS = 30


class KafkaBus(Bus):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None

    def ensure_topics(self, topics: list[str]) -> None:
        admin: KafkaAdminClient | None = None
        try:  # the client connects as it is made: an unreachable broker is a retryable error too
            admin = KafkaAdminClient(bootstrap_servers=self._settings.kafka_bootstrap, client_id="transferline-admin")
            missing = sorted(set(topics) - set(admin.list_topics()))
            if missing:
                spec = {"num_partitions": self._settings.topic_partitions, "replication_factor": 1}
                admin.create_topics({name: dict(spec) for name in missing}, wait_for_metadata=True)
                log.info("created topics", extra={"topics": missing})
        except TopicAlreadyExistsError:
            pass  # another replica created it between our list and create
        except KafkaError as exc:
            raise TransientError(
                f"could not create topics {topics} on {self._settings.kafka_bootstrap}: {exc}"
            ) from exc
        finally:
            if admin is not None:
                admin.close()

    def publish(self, topic: str, key: str, value: bytes) -> None:
        try:
            self._ensure_producer().send(topic, key=key.encode(), value=value).get(timeout=SEND_TIMEOUT_SECONDS)
        except KafkaError as exc:
            raise TransientError(f"publish to {topic} failed: {exc}") from exc

    def consumer(self, topic: str, group: str) -> Consumer:
        return KafkaTopicConsumer(self._settings, topic, group)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()
            self._producer = None

    def _ensure_producer(self) -> KafkaProducer:
        # Created on first use, never at import, so gunicorn or multiprocessing forks get their own.
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                acks="all",
                enable_idempotence=True,
                retries=10,
                delivery_timeout_ms=SEND_TIMEOUT_SECONDS * 1000,
                request_timeout_ms=SEND_TIMEOUT_SECONDS * 1000 - 1000,
                max_block_ms=SEND_TIMEOUT_SECONDS * 1000,
                linger_ms=0,
            )
        return self._producer


# Long enough for the join and sync round trips that finish a rebalance.
REBALANCE_POLL_MS = 1000


class KafkaTopicConsumer(Consumer):
    def __init__(self, settings: Settings, topic: str, group: str) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group,
            client_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=settings.max_poll_interval_seconds * 1000,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            # A topic's partitions are looked up again at least this often (the default is 5 minutes).
            metadata_max_age_ms=30_000,
        )
        self._poll_interval = settings.max_poll_interval_seconds
        self._last_poll = time.monotonic()
        self._wait_for_partitions(topic)
        self._consumer.subscribe([topic])

    def _wait_for_partitions(self, topic: str) -> None:
        """Join the group only once this client's metadata knows the topic's partitions: a member that joins
        earlier (a topic created a moment ago) is assigned nothing until its next metadata refresh."""
        deadline = time.monotonic() + TOPIC_METADATA_TIMEOUT_SECONDS
        while not self._consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                self._consumer.close(autocommit=False)
                raise TransientError(f"topic {topic} has no partitions after {TOPIC_METADATA_TIMEOUT_SECONDS} s")
            time.sleep(0.1)

    def poll(self, timeout: float, max_messages: int = 1) -> list[Message]:
        self._last_poll = time.monotonic()
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_messages)
        except KafkaError as exc:
            raise TransientError(f"poll failed: {exc}") from exc
        records = [record for batch in batches.values() for record in batch]
        return [
            Message(
                r.topic, r.partition, r.offset, (r.key or b"").decode("utf-8", "replace"), r.value or b"", r.timestamp
            )
            for r in records
        ]

    def commit(self, message: Message) -> None:
        partition = TopicPartition(message.topic, message.partition)
        try:
            self._consumer.commit({partition: OffsetAndMetadata(message.offset + 1, "", -1)})
        except KafkaError as exc:
            # A rebalance that began during a long handle() only completes inside a poll; without one every
            # retried commit fails the same way.
            self._paused_poll(timeout_ms=REBALANCE_POLL_MS)
            raise TransientError(f"offset commit failed: {exc}") from exc

    def heartbeat(self) -> None:
        # The client's own thread keeps the session alive; a poll is needed only before max.poll.interval runs
        # out. Polling more often can start a rebalance mid-handle that a zero-timeout poll never finishes.
        if time.monotonic() - self._last_poll > self._poll_interval / 3:
            self._paused_poll(timeout_ms=REBALANCE_POLL_MS)

    def _paused_poll(self, timeout_ms: int) -> None:
        """A poll that fetches nothing (every partition paused) but keeps this member in its group."""
        self._last_poll = time.monotonic()
        self._consumer.pause(*self._consumer.assignment())
        try:
            fetched = self._consumer.poll(timeout_ms=timeout_ms)
        except KafkaError:
            fetched = {}
        finally:
            self._consumer.resume(*self._consumer.assignment())
        # Partitions assigned by a rebalance inside that poll start unpaused: give back what it fetched.
        for partition, records in fetched.items():
            self._consumer.seek(partition, records[0].offset)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
