"""The bus interface. Kafka and the embedded log both implement it; services cannot tell them apart."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    timestamp_ms: int


class Consumer(ABC):
    """One member of a consumer group on one topic. Offsets move only when `commit` is called."""

    @abstractmethod
    def poll(self, timeout: float, max_messages: int = 1) -> list[Message]:
        """Up to `max_messages` messages not yet committed by the group, in offset order per partition."""

    @abstractmethod
    def commit(self, message: Message) -> None:
        """Mark `message` and everything before it in its partition as done for the group."""

    @abstractmethod
    def heartbeat(self) -> None:
        """Keep group membership alive during long work without taking new messages."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group; uncommitted messages go to another member (or back to this one on restart)."""


class Bus(ABC):
    @abstractmethod
    def ensure_topics(self, topics: list[str]) -> None:
        """Create the topics that do not exist yet, with the partition count from settings."""

    @abstractmethod
    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Append durably (acknowledged by the log) or raise TransientError. Same key -> same partition."""

    @abstractmethod
    def consumer(self, topic: str, group: str) -> Consumer:
        """Join `group` on `topic`; a new group starts from the earliest message."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release connections."""
