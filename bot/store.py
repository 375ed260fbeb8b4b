"""Durable storage of answered messages and citizens' feedback in one SQLite file, which watches its own health.

* WAL journal. Feedback is written with ``synchronous=FULL``: it is on disk before the HTTP 2xx that
  acknowledges it, so not even a power cut loses acknowledged feedback. The per-answer message log uses
  ``NORMAL`` (in the WAL, safe against a killed process, one fsync per checkpoint rather than per answer),
  which keeps answering fast under load.
* Questions, answers and comments are masked (:func:`bot.privacy.mask_pii`) before they are stored.
* **Health.** On open the file must pass ``PRAGMA quick_check``. Before every write the file must still be the
  one that was opened (same device and inode: not deleted or replaced), must not have shrunk (truncated) and
  must still start with SQLite's header. Every ``check_seconds`` a fresh connection (its own page cache, so it
  reads the disk) runs ``quick_check`` again. A failed check marks the store *broken*: writes raise
  :class:`StorageUnavailable` (HTTP 503, never a false 201) and :meth:`health` reports why (``/readyz`` 503).
  A broken store recovers only when the file at the path is replaced by a sound one (a restored backup: a new
  inode that passes ``quick_check``); a truncated or deleted file is not silently recreated empty.
* A full disk or a read-only directory also surfaces as :class:`StorageUnavailable`; answering does not
  depend on storage.
* **Retention.** :meth:`purge` deletes messages older than the retention period together with their
  feedback (the service runs it periodically). At most ``max_feedback_per_message`` feedback rows per answer.

Example::

    >>> store = FeedbackStore(Path("var/policybot.sqlite3"))
    >>> store.log_message("m1", "s1", "稳岗返还找谁？我的电话13912345678", "…", True, 7)
    >>> store.add_feedback("m1", helpful=True, comment=None)
    1
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.errors import NotFound, PolicyBotError
from bot.privacy import clean_text, mask_pii

log = logging.getLogger("policybot.store")

SQLITE_HEADER = b"SQLite format 3\x00"
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
CREATE INDEX IF NOT EXISTS messages_created ON messages(created_at);
"""
UNAVAILABLE = "反馈服务暂时不可用，请稍后再试"


class StorageUnavailable(PolicyBotError):
    code = "storage_unavailable"
    status = 503
    retry_after = 30


class FeedbackLimitReached(PolicyBotError):
    code = "feedback_limit_reached"
    status = 429
    retry_after = 3600


@dataclass(frozen=True)
class FeedbackRow:
    id: int
    message_id: str
    helpful: bool
    comment: str | None


@dataclass(frozen=True)
class StoreHealth:
    ok: bool
    detail: str


class MessageStore(Protocol):
    """What the service needs of a store (SQLite here, PostgreSQL in :mod:`bot.pgstore`)."""

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
    ) -> None: ...

    def add_feedback(self, message_id: str, helpful: bool, comment: str | None, user_id: str | None = None) -> int: ...

    def feedback(self, message_id: str) -> list[FeedbackRow]: ...

    def message(self, message_id: str) -> dict[str, object] | None: ...

    def health(self) -> StoreHealth: ...

    def purge(self, older_than_days: float) -> int: ...

    def close(self) -> None: ...


def masked(text: str) -> str:
    """What is stored of a citizen's text: encodable, personal data masked."""
    return mask_pii(clean_text(text))


class FeedbackStore:
    """Thread-safe; one connection guarded by a lock (SQLite serialises writers anyway)."""

    def __init__(self, path: Path, *, check_seconds: float = 30.0, max_feedback_per_message: int = 3) -> None:
        self.path = path
        self.check_seconds = check_seconds
        self.max_feedback_per_message = max_feedback_per_message
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        # a read handle on the opened file, kept as long as the connection: closing *any* descriptor of a file
        # drops every POSIX lock this process holds on it, SQLite's included, and another process's connection
        # would then checkpoint and delete the WAL under us (acknowledged feedback lost). So the header is
        # read through this one descriptor (os.pread), never by opening and closing the file.
        self._header_fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file we opened
        self._broken_stat: tuple[int, int, int, int] | None = None  # the file when the damage was seen
        self._size = 0
        self._broken: str | None = None
        self._checked_at = float("-inf")

    # --- opening and checking ----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._broken is not None:
            raise StorageUnavailable(UNAVAILABLE, detail=f"storage broken: {self._broken}")
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.execute("PRAGMA foreign_keys=ON")
                    verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
                    if verdict != "ok":
                        raise sqlite3.DatabaseError(f"quick_check: {verdict[:200]}")
                    conn.executescript(SCHEMA)
                    st = os.stat(self.path)
                    header_fd = os.open(self.path, os.O_RDONLY)
                except BaseException:
                    conn.close()
                    raise
            except sqlite3.DatabaseError as exc:
                if _is_damage(exc):
                    self._mark_broken(f"{self.path}: {exc}")
                raise StorageUnavailable(UNAVAILABLE, detail=str(exc)) from exc
            except (sqlite3.Error, OSError) as exc:
                raise StorageUnavailable(UNAVAILABLE, detail=str(exc)) from exc
            self._conn = conn
            self._header_fd = header_fd
            self._identity = (st.st_dev, st.st_ino)
            self._size = st.st_size
            self._checked_at = time.monotonic()
        return self._conn

    def _mark_broken(self, reason: str) -> None:
        if self._broken is None:
            log.error("storage broken, writes refused until the file is restored: %s", reason)
            self._broken_stat = self._stat_key()
        self._broken = reason
        self._close_locked()

    def _stat_key(self) -> tuple[int, int, int, int] | None:
        """What the file at ``path`` is now (None: no file): device, inode, change time, size."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_size)

    def _file_problem(self) -> str | None:
        """Why the file at ``path`` is no longer the database we opened (cheap: one stat, one 16-byte read
        through the descriptor kept open since the connection was made)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted"
        except OSError as exc:
            return f"{self.path}: {exc}"
        if (st.st_dev, st.st_ino) != self._identity:
            return f"{self.path} was replaced by another file"
        if st.st_size < self._size:
            return f"{self.path} shrank from {self._size} to {st.st_size} bytes (truncated)"
        try:
            header = os.pread(self._header_fd, len(SQLITE_HEADER), 0) if self._header_fd is not None else b""
        except OSError as exc:
            return f"{self.path}: {exc}"
        if header != SQLITE_HEADER:
            return f"{self.path} no longer starts with the SQLite header"
        self._size = st.st_size
        return None

    def _deep_check(self) -> str | None:
        """``quick_check`` through a fresh connection: it reads the pages from disk, not from our cache."""
        try:
            probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
            try:
                verdict = str(probe.execute("PRAGMA quick_check").fetchone()[0])
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            return f"{self.path}: {exc}" if _is_damage(exc) else None
        except sqlite3.Error:
            return None  # busy or locked: not a verdict
        return None if verdict == "ok" else f"{self.path}: quick_check: {verdict[:200]}"

    def _check_locked(self, *, deep: bool) -> None:
        if self._conn is None or self._broken is not None:
            return
        problem = self._file_problem()
        if problem is None and deep:
            problem = self._deep_check()
            self._checked_at = time.monotonic()
        if problem is not None:
            self._mark_broken(problem)

    def health(self) -> StoreHealth:
        """Whether writes can be trusted now; runs the periodic deep check when it is due."""
        with self._lock:
            if self._broken is not None:
                self._try_recover_locked()
            if self._broken is not None:
                return StoreHealth(False, f"storage broken: {self._broken}")
            if self._conn is None:
                try:
                    self._connect()
                except StorageUnavailable as exc:
                    return StoreHealth(False, f"storage unavailable: {exc.detail}")
            self._check_locked(deep=time.monotonic() - self._checked_at >= self.check_seconds)
            if self._broken is not None:
                return StoreHealth(False, f"storage broken: {self._broken}")
            return StoreHealth(True, "storage ok")

    def _try_recover_locked(self) -> None:
        """A restored file (another inode, or a file put in place since the damage was seen) that passes
        quick_check lifts the broken state; an empty or missing file never does."""
        now = self._stat_key()
        if now is None or now[3] == 0:
            return
        # a file other than the one we opened, or one put there since the damage was seen: a deleted file's
        # inode number may be reused by the restored copy, so the inode alone cannot tell
        if now[:2] == self._identity and now == self._broken_stat:
            return
        if self._deep_check() is not None:
            return
        log.warning("storage recovered: %s was replaced by a sound database file", self.path)
        self._broken = None
        self._identity = None

    # --- writing -------------------------------------------------------------------------------------
    def _write(self, sql: str, params: tuple[object, ...], *, durable: bool) -> int:
        with self._lock:
            return self._write_locked(sql, params, durable=durable)

    def _write_locked(self, sql: str, params: tuple[object, ...], *, durable: bool) -> int:
        try:
            conn = self._connect()
            self._check_locked(deep=time.monotonic() - self._checked_at >= self.check_seconds)
            conn = self._connect()  # raises when the check just marked the store broken
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            cur = conn.execute(sql, params)
            return int(cur.lastrowid or 0)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                self._mark_broken(f"{self.path}: {exc}")
            else:
                self._close_locked()  # the next call retries from scratch (disk freed, directory fixed…)
            raise StorageUnavailable(UNAVAILABLE, detail=str(exc)) from exc
        except OSError as exc:
            self._close_locked()
            raise StorageUnavailable(UNAVAILABLE, detail=str(exc)) from exc

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
                masked(question),
                masked(answer),
                int(in_scope),
                measure,
                reason,
                time.time(),
            ),
            durable=False,
        )

    def add_feedback(self, message_id: str, helpful: bool, comment: str | None, user_id: str | None = None) -> int:
        """Store feedback on an answered message; unknown ``message_id`` raises :class:`NotFound`, more than
        ``max_feedback_per_message`` rows on one message :class:`FeedbackLimitReached`."""
        with self._lock:
            try:
                conn = self._connect()
                (count,) = conn.execute("SELECT COUNT(*) FROM feedback WHERE message_id = ?", (message_id,)).fetchone()
            except sqlite3.Error as exc:
                raise StorageUnavailable(UNAVAILABLE, detail=str(exc)) from exc
            if count >= self.max_feedback_per_message:
                raise FeedbackLimitReached("这条回答已经收到足够的评价了，谢谢", detail=message_id)
            try:
                return self._write_locked(
                    "INSERT INTO feedback (message_id, helpful, comment, user_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    (message_id, int(helpful), masked(comment) if comment else None, user_id, time.time()),
                    durable=True,
                )
            except sqlite3.IntegrityError as exc:
                raise NotFound("没有找到这条回答", detail=f"unknown message_id {message_id!r}") from exc

    def purge(self, older_than_days: float) -> int:
        """Delete messages older than ``older_than_days`` and their feedback; the number of messages deleted."""
        cutoff = time.time() - older_than_days * 86_400
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "DELETE FROM feedback WHERE message_id IN (SELECT message_id FROM messages WHERE created_at < ?)",
                    (cutoff,),
                )
                deleted = conn.execute("DELETE FROM messages WHERE created_at < ?", (cutoff,)).rowcount
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageUnavailable(UNAVAILABLE, detail=str(exc)) from exc
        if deleted:
            log.info("retention purge: %d messages older than %s days deleted", deleted, older_than_days)
        return int(deleted)

    # --- reading -------------------------------------------------------------------------------------
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
        if self._header_fd is not None:
            fd, self._header_fd = self._header_fd, None
            os.close(fd)  # after the connection: its locks are gone by now anyway

    def close(self) -> None:
        with self._lock:
            self._close_locked()


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Corruption (SQLITE_CORRUPT, SQLITE_NOTADB), as opposed to a busy, full or read-only database."""
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc).lower()
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text
