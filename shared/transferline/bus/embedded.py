"""The bus on one local SQLite file: a durable log that several processes share, with Kafka-like groups.

Needs a local filesystem (SQLite's WAL mode does not work over NFS or SMB).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transferline.bus.base import Bus, Consumer, Message
from transferline.bus.members import Member, host_identity
from transferline.errors import InvalidInput, TransientError

log = logging.getLogger(__name__)

# Short enough that a new message, or partitions handed over by a dead member, are seen within milliseconds.
POLL_STEP_SECONDS = 0.005
# Looking for dead members reads /proc, so an idle consumer does it less often than it looks for messages.
LIVENESS_CHECK_SECONDS = 0.02
SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key TEXT NOT NULL, value BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_name TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_name, topic, partition)
);
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT NOT NULL, topic TEXT NOT NULL, member_id TEXT NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL, heartbeat REAL NOT NULL,
    PRIMARY KEY (group_name, topic, member_id)
);
"""


class EmbeddedBus(Bus):
    """One connection per process, opened on first use and shared by its threads under a lock."""

    def __init__(self, path: Path, partitions: int, session_timeout: float = 10.0, busy_timeout: float = 5.0) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, not {partitions}")
        self.path = Path(path)
        self.partitions = partitions
        self.session_timeout = session_timeout
        self._busy_timeout = busy_timeout
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._opened = 0  # connections opened so far, and commits made through them: see `_version`
        self._commits = 0

    def ensure_topics(self, topics: list[str]) -> None:
        created = []
        with self._transaction() as conn:
            for name in topics:
                insert = "INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)"
                if conn.execute(insert, (name, self.partitions)).rowcount:
                    created.append(name)
        if created:
            log.info("created topics", extra={"topics": created, "partitions": self.partitions})

    def publish(self, topic: str, key: str, value: bytes) -> None:
        # BEGIN IMMEDIATE takes the write lock before reading the last offset, so concurrent publishers
        # in other processes queue up instead of picking the same offset.
        with self._transaction() as conn:
            row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
            if row is None:
                raise InvalidInput(f"topic {topic!r} does not exist in {self.path}: create it with ensure_topics")
            partition = zlib.crc32(key.encode("utf-8")) % row[0]
            (offset,) = conn.execute(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM messages WHERE topic = ? AND partition = ?",
                (topic, partition),
            ).fetchone()
            conn.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                (topic, partition, offset, key, bytes(value), int(time.time() * 1000)),
            )

    def consumer(self, topic: str, group: str) -> Consumer:
        return EmbeddedConsumer(self, topic, group)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read, for the consumers; not part of the Bus interface."""
        with self._locked() as conn:
            return conn.execute(sql, params).fetchall()

    def _version(self) -> tuple[int, int, int]:
        """Changes whenever anything was committed to the log, by this process or another."""
        with self._locked() as conn:
            # data_version only moves for other connections' commits, so count our own beside it.
            (data_version,) = conn.execute("PRAGMA data_version").fetchone()
            return self._opened, self._commits, data_version

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")
            self._commits += 1

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        self._forget_parent_connection()
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.OperationalError as exc:
                if self._conn is not None and self._conn.in_transaction:
                    self._conn.rollback()
                if not _is_busy(exc):
                    raise
                raise TransientError(f"embedded bus {self.path} stayed locked past the busy timeout: {exc}") from exc

    def _forget_parent_connection(self) -> None:
        # SQLite connections must not cross fork(): a child drops (never closes) the parent's connection and
        # its lock, which another parent thread may have held at the moment of the fork.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._conn = None
            self._lock = threading.RLock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # timeout= is SQLite's busy_timeout; isolation_level=None lets us issue BEGIN/COMMIT ourselves.
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                _initialise(conn)
            except sqlite3.OperationalError:
                conn.close()
                raise
            self._conn = conn
            self._opened += 1
        return self._conn


def _initialise(conn: sqlite3.Connection) -> None:
    # WAL lets readers in other processes go on while one process writes; the busy timeout covers
    # several processes creating the same fresh file at once.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")  # a publish is on disk before it returns
    conn.executescript(SCHEMA)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class EmbeddedConsumer(Consumer):
    """A group member: partitions are split among live members by sorted id, p -> members[p % n]."""

    def __init__(self, bus: EmbeddedBus, topic: str, group: str) -> None:
        self._bus = bus
        self._topic = topic
        self._group = group
        self._member_id = uuid.uuid4().hex
        self._positions: dict[int, int] = {}  # assigned partition -> next offset to deliver
        self._members: list[Member] = []
        self._seen: tuple[int, int, int] | None = None  # the log's version when a poll last found nothing
        self._last_check = 0.0
        self._partitions = 0
        self._turn = 0
        self._last_beat = 0.0
        self._beat_every = min(1.0, bus.session_timeout / 3)
        self._closed = False
        self.heartbeat()  # join now, so the other members hand over partitions before our first poll

    def poll(self, timeout: float, max_messages: int = 1) -> list[Message]:
        if self._closed:
            raise RuntimeError(f"consumer of {self._topic} in group {self._group} is closed")
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            batch = self._poll_once(max_messages)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            time.sleep(min(POLL_STEP_SECONDS, remaining))

    def commit(self, message: Message) -> None:
        with self._bus._transaction() as conn:
            conn.execute(
                "INSERT INTO group_offsets (group_name, topic, partition, next_offset) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (group_name, topic, partition) "
                "DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                (self._group, message.topic, message.partition, message.offset + 1),
            )

    def heartbeat(self) -> None:
        now = time.time()
        with self._bus._transaction() as conn:
            conn.execute(
                "INSERT INTO group_members (group_name, topic, member_id, host, pid, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (group_name, topic, member_id) DO UPDATE SET heartbeat = excluded.heartbeat",
                (self._group, self._topic, self._member_id, host_identity(), os.getpid(), now),
            )
        self._last_beat = now

    def close(self) -> None:
        self._closed = True
        self._positions = {}
        self._remove_members([self._member_id])

    def _poll_once(self, max_messages: int) -> list[Message]:
        if time.time() - self._last_beat >= self._beat_every:
            self.heartbeat()
        version = self._bus._version()
        if version == self._seen and self._members_still_alive():
            return []  # nothing committed and nobody died since the last empty look: skip the queries
        self._rebalance(self._assignment())
        batch = self._fetch(max_messages)
        self._seen = None if batch else version
        return batch

    def _members_still_alive(self) -> bool:
        now = time.time()
        if now - self._last_check < LIVENESS_CHECK_SECONDS:
            return True
        self._last_check = now
        return all(member.is_alive(now, self._bus.session_timeout) for member in self._members)

    def _assignment(self) -> list[int]:
        """Partitions this member owns now, after removing the members that are gone."""
        rows = self._bus._query(
            "SELECT member_id, host, pid, heartbeat FROM group_members WHERE group_name = ? AND topic = ?",
            (self._group, self._topic),
        )
        now = time.time()
        members = [Member(*row) for row in rows]
        self._members = [m for m in members if m.is_alive(now, self._bus.session_timeout)]
        live = sorted(m.member_id for m in self._members)
        dead = [m.member_id for m in members if m.member_id not in live]
        if dead and self._remove_members(dead):
            log.warning(
                "removed dead group members", extra={"group": self._group, "topic": self._topic, "members": dead}
            )
        if self._member_id not in live:
            self._last_beat = 0.0  # someone removed us during a stall: rejoin on the next step
            return []
        index = live.index(self._member_id)
        return [p for p in range(self._topic_partitions()) if p % len(live) == index]

    def _topic_partitions(self) -> int:
        # A topic's partition count never changes once created, so it is read until the topic exists.
        if not self._partitions:
            rows = self._bus._query("SELECT partitions FROM topics WHERE name = ?", (self._topic,))
            self._partitions = rows[0][0] if rows else 0
        return self._partitions

    def _rebalance(self, assigned: list[int]) -> None:
        if sorted(self._positions) == assigned:
            return
        # Newly assigned partitions restart at the group's committed offset, so uncommitted messages of the
        # previous owner are delivered again; partitions we keep keep our position.
        rows = self._bus._query(
            "SELECT partition, next_offset FROM group_offsets WHERE group_name = ? AND topic = ?",
            (self._group, self._topic),
        )
        committed: dict[int, int] = dict(rows)
        kept = {p: offset for p, offset in self._positions.items() if p in assigned}
        self._positions = {p: kept[p] if p in kept else committed.get(p, 0) for p in assigned}
        log.info(
            "partitions assigned",
            extra={"group": self._group, "topic": self._topic, "member": self._member_id, "partitions": assigned},
        )

    def _fetch(self, max_messages: int) -> list[Message]:
        # Start from a different partition each time so one busy partition cannot starve the others.
        order = sorted(self._positions)
        if order:
            start = self._turn % len(order)
            order = order[start:] + order[:start]
            self._turn += 1
        batch: list[Message] = []
        for partition in order:
            if len(batch) >= max_messages:
                break
            rows = self._bus._query(
                "SELECT offset, key, value, timestamp_ms FROM messages "
                "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
                (self._topic, partition, self._positions[partition], max_messages - len(batch)),
            )
            batch.extend(Message(self._topic, partition, *row) for row in rows)
            if rows:
                self._positions[partition] = rows[-1][0] + 1
        return batch

    def _remove_members(self, member_ids: list[str]) -> int:
        with self._bus._transaction() as conn:
            return conn.executemany(
                "DELETE FROM group_members WHERE group_name = ? AND topic = ? AND member_id = ?",
                [(self._group, self._topic, member_id) for member_id in member_ids],
            ).rowcount
