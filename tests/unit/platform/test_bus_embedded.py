"""The embedded bus: a SQLite log that several processes share, with Kafka-like consumer groups."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from transferline.bus.base import Consumer, Message
from transferline.bus.embedded import EmbeddedBus
from transferline.bus.members import pid_alive
from transferline.errors import InvalidInput, TransientError

TOPIC = "transferline.test"
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", partitions=3)
    bus.ensure_topics([TOPIC])
    yield bus
    bus.close()


def drain(consumer: Consumer, expected: int, timeout: float = 5.0) -> list[Message]:
    """Poll until `expected` messages have come or `timeout` has passed."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(consumer.poll(0.05, max_messages=100))
    return got


def positions(messages: list[Message]) -> set[tuple[int, int]]:
    return {(m.partition, m.offset) for m in messages}


def test_each_key_keeps_its_order_and_its_partition(bus: EmbeddedBus) -> None:
    keys = [f"job-{i}" for i in range(6)]
    for n in range(30):
        for key in keys:
            bus.publish(TOPIC, key, f"{key}:{n}".encode())

    got = drain(bus.consumer(TOPIC, "g"), 180)

    assert len(got) == 180
    sequences: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for message in got:
        sequences[message.key].append(int(message.value.split(b":")[1]))
        partitions[message.key].add(message.partition)
    assert all(sequence == list(range(30)) for sequence in sequences.values())
    assert all(len(used) == 1 for used in partitions.values())
    assert len(set().union(*partitions.values())) > 1  # the keys do spread over partitions


def test_uncommitted_messages_come_again_and_committed_ones_do_not(bus: EmbeddedBus) -> None:
    for i in range(5):
        bus.publish(TOPIC, f"k{i}", b"v%d" % i)
    first = bus.consumer(TOPIC, "g")
    delivered = drain(first, 5)
    first.close()

    second = bus.consumer(TOPIC, "g")
    again = drain(second, 5)
    for message in again:
        second.commit(message)
    second.close()

    assert len(delivered) == 5
    assert positions(again) == positions(delivered)
    assert bus.consumer(TOPIC, "g").poll(0.1, max_messages=10) == []
    assert positions(drain(bus.consumer(TOPIC, "other"), 5)) == positions(delivered)


def test_commit_never_moves_the_offset_back(bus: EmbeddedBus) -> None:
    for i in range(3):
        bus.publish(TOPIC, "same", b"%d" % i)
    consumer = bus.consumer(TOPIC, "g")
    got = drain(consumer, 3)
    consumer.commit(got[2])
    consumer.commit(got[0])
    consumer.close()

    assert [m.offset for m in got] == [0, 1, 2]
    assert bus.consumer(TOPIC, "g").poll(0.1, max_messages=10) == []


def test_an_idle_consumer_wakes_for_messages_from_any_connection(bus: EmbeddedBus) -> None:
    consumer = bus.consumer(TOPIC, "g")
    assert consumer.poll(0.02) == []
    bus.publish(TOPIC, "k", b"same connection")
    assert [m.value for m in consumer.poll(1.0)] == [b"same connection"]

    assert consumer.poll(0.02) == []
    other = EmbeddedBus(bus.path, partitions=3)
    later = threading.Timer(0.05, other.publish, args=(TOPIC, "k", b"other connection"))
    started = time.monotonic()
    later.start()
    got = consumer.poll(2.0)

    assert [m.value for m in got] == [b"other connection"]
    assert time.monotonic() - started < 0.5  # woke up when it came, not at the end of the timeout
    later.join()
    other.close()


def test_two_members_split_the_partitions_and_take_over_on_close(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", partitions=4)
    bus.ensure_topics([TOPIC])
    a, b = bus.consumer(TOPIC, "g"), bus.consumer(TOPIC, "g")
    for i in range(80):
        bus.publish(TOPIC, f"k{i % 40}", b"%d" % i)

    got_a: list[Message] = []
    got_b: list[Message] = []
    deadline = time.monotonic() + 5
    while len(got_a) + len(got_b) < 80 and time.monotonic() < deadline:
        got_a += a.poll(0.02, max_messages=100)
        got_b += b.poll(0.02, max_messages=100)

    assert len(got_a) + len(got_b) == 80
    assert got_a and got_b
    assert {m.partition for m in got_a}.isdisjoint({m.partition for m in got_b})
    # a committed nothing, so b gets a's messages again once a has left.
    a.close()
    assert positions(drain(b, len(got_a))) == positions(got_a)


def test_a_silent_member_loses_its_partitions_after_the_session_timeout(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", partitions=4, session_timeout=0.3)
    bus.ensure_topics([TOPIC])
    silent, active = bus.consumer(TOPIC, "g"), bus.consumer(TOPIC, "g")
    for i in range(40):
        bus.publish(TOPIC, f"k{i}", b"%d" % i)

    silent.heartbeat()  # alive now, however slowly the test got here
    share = drain(active, 40, timeout=0.1)
    time.sleep(0.4)
    everything = drain(active, 40 - len(share), timeout=2)

    assert 0 < len(share) < 40
    assert len(share) + len(everything) == 40
    silent.close()


def test_existing_topics_keep_their_partition_count(bus: EmbeddedBus) -> None:
    wider = EmbeddedBus(bus.path, partitions=8)
    wider.ensure_topics([TOPIC, "transferline.new"])
    for i in range(40):
        wider.publish(TOPIC, f"k{i}", b"x")
        wider.publish("transferline.new", f"k{i}", b"x")

    assert {m.partition for m in drain(bus.consumer(TOPIC, "g"), 40)} == {0, 1, 2}
    assert max(m.partition for m in drain(bus.consumer("transferline.new", "g"), 40)) > 2
    wider.close()


def test_publish_to_an_unknown_topic_names_it(bus: EmbeddedBus) -> None:
    with pytest.raises(InvalidInput, match=r"transferline\.nowhere"):
        bus.publish("transferline.nowhere", "k", b"x")


def test_a_write_lock_held_past_the_busy_timeout_is_transient(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", partitions=3, busy_timeout=0.05)
    bus.ensure_topics([TOPIC])
    holder = sqlite3.connect(bus.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    with pytest.raises(TransientError):
        bus.publish(TOPIC, "k", b"x")
    holder.rollback()
    bus.publish(TOPIC, "k", b"x")  # the failed attempt left no transaction open behind it

    assert len(drain(bus.consumer(TOPIC, "g"), 1)) == 1
    holder.close()


def test_threads_share_one_bus(bus: EmbeddedBus) -> None:
    def publish(thread: int) -> None:
        for n in range(50):
            bus.publish(TOPIC, f"t{thread}", f"{thread}:{n}".encode())

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    got = drain(bus.consumer(TOPIC, "g"), 200)
    assert Counter(m.value for m in got) == Counter(f"{t}:{n}".encode() for t in range(4) for n in range(50))


def _publish_after_fork(bus: EmbeddedBus, reply: multiprocessing.queues.Queue) -> None:
    inherited = bus._conn
    bus.publish(TOPIC, "child", b"child")
    reply.put(bus._conn is not None and bus._conn is not inherited)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_opens_its_own_connection(bus: EmbeddedBus) -> None:
    fork = multiprocessing.get_context("fork")
    bus.publish(TOPIC, "parent", b"before")  # the parent's connection is open when it forks
    reply = fork.Queue()
    child = fork.Process(target=_publish_after_fork, args=(bus, reply))
    child.start()
    child.join(timeout=10)
    bus.publish(TOPIC, "parent", b"after")

    assert child.exitcode == 0
    assert reply.get(timeout=1) is True
    assert {m.value for m in drain(bus.consumer(TOPIC, "g"), 3)} == {b"before", b"child", b"after"}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_an_unreaped_dead_process_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while "Z" not in Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1][:3]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        assert not pid_alive(child.pid)
        assert pid_alive(os.getpid())
    finally:
        child.wait()


def _publish_many(path: str, writer: int, count: int) -> None:
    bus = EmbeddedBus(Path(path), partitions=3)
    bus.ensure_topics([TOPIC])  # the writers also race to create the file, the schema and the topic
    for n in range(count):
        bus.publish(TOPIC, f"w{writer}-k{n % 5}", f"{writer}:{n}".encode())
    bus.close()


def test_processes_publishing_at_once_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    writers = [SPAWN.Process(target=_publish_many, args=(str(path), w, 150)) for w in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)

    assert [writer.exitcode for writer in writers] == [0, 0, 0, 0]
    bus = EmbeddedBus(path, partitions=3)
    got = drain(bus.consumer(TOPIC, "check"), 600)
    expected = Counter(f"{w}:{n}".encode() for w in range(4) for n in range(150))
    assert Counter(m.value for m in got) == expected
    offsets: dict[int, list[int]] = defaultdict(list)
    for message in got:
        offsets[message.partition].append(message.offset)
    assert all(sorted(found) == list(range(len(found))) for found in offsets.values())
    bus.close()


def _consume_and_hang(path: str, expected: int, reply: multiprocessing.queues.Queue) -> None:
    bus = EmbeddedBus(Path(path), partitions=3, session_timeout=30)
    reply.put(len(drain(bus.consumer(TOPIC, "g"), expected)))
    time.sleep(120)  # holds its partitions, commits nothing, until it is killed


def _thirty_messages_held_by_another_process(tmp_path: Path) -> tuple[EmbeddedBus, multiprocessing.Process]:
    """A bus with 30 messages, all delivered to (and held uncommitted by) a member in another process."""
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", partitions=3, session_timeout=30)
    bus.ensure_topics([TOPIC])
    for i in range(30):
        bus.publish(TOPIC, f"k{i}", b"%d" % i)
    reply = SPAWN.Queue()
    member = SPAWN.Process(target=_consume_and_hang, args=(str(bus.path), 30, reply))
    member.start()
    assert reply.get(timeout=30) == 30
    return bus, member


def test_a_killed_member_hands_its_uncommitted_messages_over_at_once(tmp_path: Path) -> None:
    bus, member = _thirty_messages_held_by_another_process(tmp_path)
    member.kill()  # SIGKILL
    member.join(timeout=10)

    started = time.monotonic()
    got = drain(bus.consumer(TOPIC, "g"), 30, timeout=10)

    # Every partition comes back, far sooner than the 30 s session timeout.
    assert len(got) == 30
    assert time.monotonic() - started < 2
    bus.close()


def test_a_waiting_member_takes_over_the_moment_another_is_killed(tmp_path: Path) -> None:
    bus, member = _thirty_messages_held_by_another_process(tmp_path)
    try:
        waiting = bus.consumer(TOPIC, "g")
        share = drain(waiting, 30, timeout=0.2)  # only its own partitions while the other lives
    finally:
        member.kill()  # SIGKILL
        member.join(timeout=10)

    started = time.monotonic()
    rest = drain(waiting, 30 - len(share), timeout=10)

    assert 0 < len(share) < 30
    assert len(positions(share) | positions(rest)) == 30
    assert time.monotonic() - started < 0.5  # found dead by its pid, with nothing written to the log
    bus.close()
