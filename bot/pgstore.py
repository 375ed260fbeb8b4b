"""Messages and feedback in PostgreSQL (``POLICYBOT_DATABASE_URL``; psycopg 3 with a connection pool).

The same contract as :class:`bot.store.FeedbackStore` (SQLite stays the default): questions, answers and
comments masked before storage; feedback committed (durably: PostgreSQL's default ``synchronous_commit``)
before the 201; at most ``max_feedback_per_message`` rows per answer; retention purge; a failing database is
:class:`bot.store.StorageUnavailable` (503) and ``/readyz`` 503.

**Migrations.** Plain numbered SQL files in ``bot/migrations/`` (``0001_….sql``, …) are applied at start-up in
order, each in its own transaction, under an advisory lock (so workers starting together apply each once),
and recorded in ``schema_migrations``. Add a file with the next number to change the schema; never edit one
that has been applied.

Example::

    >>> store = PostgresStore("postgresql://policybot@127.0.0.1/policybot")
    >>> store.log_message("m1", "s1", "电话13912345678", "…", True, "doc#7")
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bot.errors import NotFound
from bot.store import UNAVAILABLE, FeedbackLimitReached, FeedbackRow, StorageUnavailable, StoreHealth, masked

log = logging.getLogger("policybot.pgstore")

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x706F6C6963  # advisory lock key for migrations ("polic")


def migration_files(directory: Path = MIGRATIONS) -> list[tuple[int, Path]]:
    out = []
    for p in sorted(directory.glob("*.sql")):
        number = p.name.split("_", 1)[0]
        if number.isdigit():
            out.append((int(number), p))
    return out


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS) -> list[int]:
    """Apply the migrations not yet recorded; the numbers applied now."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for number, path in migration_files(directory):
            if number in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (number, path.name))
            applied_now.append(number)
    if applied_now:
        log.info("database migrations applied: %s", applied_now)
    return applied_now


class PostgresStore:
    def __init__(
        self,
        url: str,
        *,
        max_feedback_per_message: int = 3,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.max_feedback_per_message = max_feedback_per_message
        self.timeout = timeout
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._pool_args = {"min_size": min_size, "max_size": max_size}
        self._lock = threading.Lock()
        self._last_error: str | None = None

    def _get_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        with self._lock:
            if self._pool is None:
                pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                    self.url,
                    open=False,
                    timeout=self.timeout,
                    kwargs={"autocommit": True, "connect_timeout": max(1, int(self.timeout))},
                    check=ConnectionPool.check_connection,
                    **self._pool_args,  # type: ignore[arg-type]
                )
                try:
                    pool.open(wait=True, timeout=self.timeout)
                    with pool.connection() as conn:
                        migrate(conn)
                except Exception as exc:
                    pool.close()
                    raise StorageUnavailable(UNAVAILABLE, detail=f"postgresql: {exc}") from exc
                self._pool = pool
            return self._pool

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._get_pool().connection() as conn:
                cur = conn.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
        except psycopg.errors.ForeignKeyViolation:
            raise
        except (psycopg.Error, OSError) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            raise StorageUnavailable(UNAVAILABLE, detail=f"postgresql: {exc}") from exc
        except Exception as exc:  # pool timeout and friends
            if isinstance(exc, StorageUnavailable):
                raise
            self._last_error = f"{type(exc).__name__}: {exc}"
            raise StorageUnavailable(UNAVAILABLE, detail=f"postgresql: {exc}") from exc
        self._last_error = None
        return rows

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
        self._run(
            "INSERT INTO messages (message_id, session_id, user_id, question, answer, in_scope, measure, reason,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                message_id,
                session_id,
                user_id,
                masked(question),
                masked(answer),
                in_scope,
                measure,
                reason,
                time.time(),
            ),
        )

    def add_feedback(self, message_id: str, helpful: bool, comment: str | None, user_id: str | None = None) -> int:
        try:
            # the cap and the insert in one statement: concurrent posts from several workers cannot pass it
            rows = self._run(
                "INSERT INTO feedback (message_id, helpful, comment, user_id, created_at)"
                " SELECT %s, %s, %s, %s, %s WHERE (SELECT COUNT(*) FROM feedback WHERE message_id = %s) < %s"
                " RETURNING id",
                (
                    message_id,
                    helpful,
                    masked(comment) if comment else None,
                    user_id,
                    time.time(),
                    message_id,
                    self.max_feedback_per_message,
                ),
            )
        except psycopg.errors.ForeignKeyViolation as exc:
            raise NotFound("没有找到这条回答", detail=f"unknown message_id {message_id!r}") from exc
        if not rows:
            if not self._run("SELECT 1 FROM messages WHERE message_id = %s", (message_id,)):
                raise NotFound("没有找到这条回答", detail=f"unknown message_id {message_id!r}")
            raise FeedbackLimitReached("这条回答已经收到足够的评价了，谢谢", detail=message_id)
        return int(rows[0][0])

    def feedback(self, message_id: str) -> list[FeedbackRow]:
        rows = self._run(
            "SELECT id, message_id, helpful, comment FROM feedback WHERE message_id = %s ORDER BY id", (message_id,)
        )
        return [FeedbackRow(int(r[0]), r[1], bool(r[2]), r[3]) for r in rows]

    def message(self, message_id: str) -> dict[str, object] | None:
        try:
            with self._get_pool().connection() as conn:
                cur = conn.execute("SELECT * FROM messages WHERE message_id = %s", (message_id,))
                row = cur.fetchone()
                names = [d.name for d in cur.description or []]
        except psycopg.Error as exc:
            raise StorageUnavailable(UNAVAILABLE, detail=f"postgresql: {exc}") from exc
        return dict(zip(names, row, strict=True)) if row else None

    def purge(self, older_than_days: float) -> int:
        cutoff = time.time() - older_than_days * 86_400
        rows = self._run(
            "WITH gone AS (DELETE FROM messages WHERE created_at < %s RETURNING 1) SELECT COUNT(*) FROM gone", (cutoff,)
        )
        deleted = int(rows[0][0]) if rows else 0
        if deleted:
            log.info("retention purge: %d messages older than %s days deleted", deleted, older_than_days)
        return deleted

    def health(self) -> StoreHealth:
        try:
            self._run("SELECT 1")
        except StorageUnavailable as exc:
            return StoreHealth(False, f"storage unavailable: {exc.detail}")
        return StoreHealth(True, "storage ok (postgresql)")

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
