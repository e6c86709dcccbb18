"""The local, embedded queue and result store: one SQLite file in WAL mode per API.

Crash guarantees (SQLite's): a `put` that returned is on disk (synchronous=FULL: it survives the
machine losing power, not only a killed process); a lease is a row update, so a worker killed
mid-item leaves the row leased until its visibility runs out, and then it is delivered again.
Several processes (the API, its workers, the CLI) share the file; writers take SQLite's write
lock (BEGIN IMMEDIATE) and wait up to `BUSY_TIMEOUT_S` for it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from mlserve.errors import LeaseLost, QueueError
from mlserve.queues.base import DeadItem, Lease, QueueCounts

BUSY_TIMEOUT_S = 30.0
POLL_S = 0.005  # how often `lease(wait_s=…)` looks again: a read, which takes no lock (WAL), so cheap

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body BLOB NOT NULL,
  enqueued REAL NOT NULL, visible_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, token TEXT);
CREATE INDEX IF NOT EXISTS items_visible ON items (visible_at);
CREATE TABLE IF NOT EXISTS dead (
  id TEXT PRIMARY KEY, body BLOB NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, record TEXT NOT NULL, written REAL NOT NULL);
CREATE INDEX IF NOT EXISTS records_written ON records (written);
"""


class _Db:
    """One connection, shared by the threads of one process under a lock."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        if not self.path.is_absolute():
            raise QueueError(f"sqlite queue path {path!r} is not absolute", hint="use sqlite:///abs/path.db")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise QueueError(f"cannot open the queue file {self.path}: {exc}",
                             hint="check that the folder is writable and the file is not damaged") from exc
        self._lock = threading.Lock()

    def run(self, fn):
        """`fn(conn)` inside one write transaction."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return out
            except sqlite3.Error as exc:
                raise QueueError(f"queue file {self.path}: {exc}",
                                 hint="another process may hold it locked; retry, or check the disk") from exc

    def read(self, sql: str, args: tuple = ()) -> list:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise QueueError(f"queue file {self.path}: {exc}", hint="retry, or check the disk") from exc


class SqliteQueue:
    def __init__(self, path: str) -> None:
        self._db = _Db(path)

    def put(self, item_id: str, body: bytes) -> None:
        now = time.time()
        self._db.run(lambda c: c.execute(
            "INSERT OR IGNORE INTO items (id, body, enqueued, visible_at) VALUES (?, ?, ?, ?)",
            (item_id, body, now, now)))

    def _take(self, visibility_s: float) -> Lease | None:
        def take(c: sqlite3.Connection) -> Lease | None:
            now = time.time()
            row = c.execute("SELECT seq, id, body, attempts FROM items WHERE visible_at <= ? ORDER BY seq LIMIT 1",
                            (now,)).fetchone()
            if row is None:
                return None
            token = uuid.uuid4().hex
            c.execute("UPDATE items SET attempts = attempts + 1, visible_at = ?, token = ? WHERE seq = ?",
                      (now + visibility_s, token, row[0]))
            return Lease(item_id=row[1], body=bytes(row[2]), attempt=row[3] + 1, token=token)
        return self._db.run(take)

    def lease(self, visibility_s: float, wait_s: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + wait_s
        while True:
            # Only a visible item is worth the write lock: idle workers polling must not queue
            # behind each other and the API's submissions.
            due = self._db.read("SELECT 1 FROM items WHERE visible_at <= ? LIMIT 1", (time.time(),))
            got = self._take(visibility_s) if due else None
            if got is not None or time.monotonic() >= deadline:
                return got
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def _held(self, lease: Lease, sql: str, args: tuple, what: str) -> None:
        def change(c: sqlite3.Connection) -> None:
            # Held = same token and not yet visible again: a lease that ran out is lost even if no
            # other worker has taken the item yet, so renew/ack never revive a stale holder.
            held = c.execute("SELECT 1 FROM items WHERE id = ? AND token = ? AND visible_at > ?",
                             (lease.item_id, lease.token, time.time())).fetchone()
            if held is None:
                raise LeaseLost(f"cannot {what} item {lease.item_id}: its lease ran out",
                                hint="renew the lease more often than its visibility timeout")
            c.execute(sql, args)
        self._db.run(change)

    def renew(self, lease: Lease, visibility_s: float) -> None:
        self._held(lease, "UPDATE items SET visible_at = ? WHERE id = ?",
                   (time.time() + visibility_s, lease.item_id), "renew")

    def ack(self, lease: Lease) -> None:
        self._held(lease, "DELETE FROM items WHERE id = ?", (lease.item_id,), "acknowledge")

    def release(self, lease: Lease, delay_s: float = 0.0) -> None:
        self._held(lease, "UPDATE items SET visible_at = ?, token = NULL WHERE id = ?",
                   (time.time() + delay_s, lease.item_id), "release")

    def dead_letter(self, lease: Lease, error: str) -> None:
        def move(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM items WHERE id = ?", (lease.item_id,))
            c.execute("INSERT OR REPLACE INTO dead (id, body, attempts, error, at) VALUES (?, ?, ?, ?, ?)",
                      (lease.item_id, lease.body, lease.attempt, error, time.time()))
        self._db.run(move)

    def dead(self, limit: int = 20) -> list[DeadItem]:
        rows = self._db.read("SELECT id, body, attempts, error, at FROM dead ORDER BY at DESC LIMIT ?", (limit,))
        return [DeadItem(item_id=r[0], body=bytes(r[1]), attempts=r[2], error=r[3], at=r[4]) for r in rows]

    def counts(self) -> QueueCounts:
        now = time.time()
        (row,) = self._db.read(
            "SELECT COALESCE(SUM(token IS NULL OR visible_at <= ?), 0), "
            "COALESCE(SUM(token IS NOT NULL AND visible_at > ?), 0), MIN(enqueued), "
            "(SELECT COUNT(*) FROM dead) FROM items", (now, now))
        return QueueCounts(waiting=row[0], in_flight=row[1], dead=row[3],
                           oldest_age_s=None if row[2] is None else max(0.0, now - row[2]))

    def drop(self) -> None:
        self._db.run(lambda c: (c.execute("DELETE FROM items"), c.execute("DELETE FROM dead")))


class SqliteResults:
    def __init__(self, path: str) -> None:
        self._db = _Db(path)

    def put(self, item_id: str, record: dict) -> None:
        text = json.dumps(record)
        self._db.run(lambda c: c.execute("INSERT OR REPLACE INTO records (id, record, written) VALUES (?, ?, ?)",
                                         (item_id, text, time.time())))

    def get(self, item_id: str) -> dict | None:
        rows = self._db.read("SELECT record FROM records WHERE id = ?", (item_id,))
        return json.loads(rows[0][0]) if rows else None

    def expire(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        return self._db.run(lambda c: c.execute("DELETE FROM records WHERE written < ?", (cutoff,)).rowcount)

    def drop(self) -> None:
        self._db.run(lambda c: c.execute("DELETE FROM records"))
