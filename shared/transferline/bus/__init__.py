"""The message bus: Kafka in the stack, an embedded durable log on a bare machine; one interface."""

from transferline.bus.base import Bus, Consumer, Message
from transferline.settings import Settings


def open_bus(settings: Settings) -> Bus:
    """The bus the settings name; imports are lazy so the embedded mode never loads the Kafka client."""
    if settings.bus == "kafka":
        from transferline.bus.kafka import KafkaBus

        return KafkaBus(settings)
    from transferline.bus.embedded import EmbeddedBus

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Like Kafka's max poll interval: a member busy in a long handle() keeps its partitions; a crashed one
    # on this host is noticed at once through its pid.
    return EmbeddedBus(
        settings.data_dir / "bus.sqlite3",
        partitions=settings.topic_partitions,
        session_timeout=settings.max_poll_interval_seconds,
    )


__all__ = ["Bus", "Consumer", "Message", "open_bus"]
