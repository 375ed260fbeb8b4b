"""Conversation sessions and rate limits for the service.

Sessions live behind :class:`SessionStore`; the default :class:`MemorySessionStore` keeps them in process
(cachetools ``TTLCache``: idle sessions expire, the count is capped). Session ids are issued by the server
(``secrets.token_urlsafe(18)``: 144 random bits); an unknown, expired or foreign id starts a fresh session
under a new id, so a guessed id gains nothing, and a session bound to a WeChat user is not served to another.

Rate limits use the ``limits`` library (moving window, in memory).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from cachetools import TTLCache
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bot.answer import Session
from bot.errors import PolicyBotError


class RateLimited(PolicyBotError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionStore(Protocol):
    def get(self, session_id: str | None, owner: str | None) -> Session | None: ...

    def put(self, session: Session, owner: str | None) -> None: ...


class MemorySessionStore:
    """In-process sessions with idle expiry and a turn cap. Thread-safe."""

    def __init__(self, ttl_seconds: int, max_sessions: int, max_turns: int) -> None:
        self._cache: TTLCache[str, tuple[Session, str | None]] = TTLCache(maxsize=max_sessions, ttl=ttl_seconds)
        self._lock = threading.Lock()
        self.max_turns = max_turns

    def get(self, session_id: str | None, owner: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            entry = self._cache.get(session_id)
        if entry is None:
            return None
        session, bound = entry
        if bound != owner or session.turns >= self.max_turns:
            return None
        return session

    def put(self, session: Session, owner: str | None) -> None:
        with self._lock:
            self._cache[session.id] = (session, owner)


class RateLimiter:
    """Per-session and per-client moving-window limits, e.g. ``"30/minute"``; feedback has its own limit."""

    def __init__(self, per_session: str, per_client: str, per_client_feedback: str = "20/minute") -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._session = parse(per_session)
        self._client = parse(per_client)
        self._feedback = parse(per_client_feedback)

    def check_feedback(self, client: str) -> None:
        if not self._limiter.hit(self._feedback, "feedback", client):
            reset = self._limiter.get_window_stats(self._feedback, "feedback", client).reset_time
            raise RateLimited("评价太频繁了，请稍后再试", retry_after=max(1, int(reset - time.time()) + 1))

    def check(self, client: str, session_id: str | None) -> None:
        checks = [(self._client, "client", client)]
        if session_id:
            checks.append((self._session, "session", session_id))
        for item, scope, key in checks:
            if not self._limiter.hit(item, scope, key):
                reset = self._limiter.get_window_stats(item, scope, key).reset_time
                raise RateLimited("请求太频繁了，请稍后再试", retry_after=max(1, int(reset - time.time()) + 1))
