"""Durable storage of answered messages and citizens' feedback in one SQLite file.

* WAL journal. Feedback is written with ``synchronous=FULL``: it is on disk before the HTTP 2xx that
  acknowledges it, so not even a power cut loses acknowledged feedback. The per-answer message log uses
  ``NORMAL`` (in the WAL, safe against a killed process, one fsync per checkpoint rather than per answer),
  which keeps answering fast under load.
* Questions, answers and comments are masked (:func:`bot.privacy.mask_pii`) before they are stored.
* A full disk or a read-only directory surfaces as :class:`StorageUnavailable` (HTTP 503 at the edge);
  answering does not depend on storage.

Example::

    >>> store = FeedbackStore(Path("var/policybot.sqlite3"))
    >>> store.log_message("m1", "s1", "稳岗返还找谁？我的电话13912345678", "…", True, 7)
    >>> store.add_feedback("m1", helpful=True, comment=None)
    1
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.errors import NotFound, PolicyBotError
from bot.privacy import mask_pii

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    in_scope INTEGER NOT NULL,
    measure TEXT,
    reason TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages(message_id),
    helpful INTEGER NOT NULL,
    comment TEXT,
    user_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_message ON feedback(message_id);
"""


class StorageUnavailable(PolicyBotError):
    code = "storage_unavailable"
    status = 503


@dataclass(frozen=True)
class FeedbackRow:
    id: int
    message_id: str
    helpful: bool
    comment: str | None


class FeedbackStore:
    """Thread-safe; one connection guarded by a lock (SQLite serialises writers anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.executescript(SCHEMA)
            except (sqlite3.Error, OSError) as exc:
                raise StorageUnavailable("反馈服务暂时不可用，请稍后再试", detail=str(exc)) from exc
            self._conn = conn
        return self._conn

    def _write(self, sql: str, params: tuple[object, ...], *, durable: bool) -> int:
        with self._lock:
            try:
                conn = self._connect()
                conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                cur = conn.execute(sql, params)
                return int(cur.lastrowid or 0)
            except sqlite3.IntegrityError:
                raise
            except (sqlite3.Error, OSError) as exc:
                # drop the connection: the next call retries from scratch (disk freed, directory fixed…)
                self._close_locked()
                raise StorageUnavailable("反馈服务暂时不可用，请稍后再试", detail=str(exc)) from exc

    def log_message(
        self,
        message_id: str,
        session_id: str,
        question: str,
        answer: str,
        in_scope: bool,
        measure: str | None,
        reason: str = "",
        user_id: str | None = None,
    ) -> None:
        self._write(
            "INSERT INTO messages (message_id, session_id, user_id, question, answer, in_scope, measure, reason,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                session_id,
                user_id,
                mask_pii(question),
                mask_pii(answer),
                int(in_scope),
                measure,
                reason,
                time.time(),
            ),
            durable=False,
        )

    def add_feedback(self, message_id: str, helpful: bool, comment: str | None, user_id: str | None = None) -> int:
        """Store feedback on an answered message; unknown ``message_id`` raises :class:`NotFound`."""
        try:
            return self._write(
                "INSERT INTO feedback (message_id, helpful, comment, user_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (message_id, int(helpful), mask_pii(comment) if comment else None, user_id, time.time()),
                durable=True,
            )
        except sqlite3.IntegrityError as exc:
            raise NotFound("没有找到这条回答", detail=f"unknown message_id {message_id!r}") from exc

    def feedback(self, message_id: str) -> list[FeedbackRow]:
        with self._lock:
            conn = self._connect()
            rows = conn.execute(
                "SELECT id, message_id, helpful, comment FROM feedback WHERE message_id = ? ORDER BY id",
                (message_id,),
            ).fetchall()
        return [FeedbackRow(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def message(self, message_id: str) -> dict[str, object] | None:
        with self._lock:
            conn = self._connect()
            cur = conn.execute("SELECT * FROM messages WHERE message_id = ?", (message_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return dict(zip(names, row, strict=True)) if row else None

    def _close_locked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()
