"""Conversation sessions and rate limits for the service.

Sessions live behind :class:`SessionStore`; the default :class:`MemorySessionStore` keeps them in process
(cachetools ``TTLCache``: idle sessions expire, the count is capped). Session ids are issued by the server
(``secrets.token_urlsafe(18)``: 144 random bits); an unknown, expired or foreign id starts a fresh session
under a new id, so a guessed id gains nothing, and a session bound to a WeChat user is not served to another.

Rate limits: moving windows, in bounded expiring memory or (``POLICYBOT_REDIS_URL``) in Redis through the
``limits`` library; see :class:`RateLimiter`. The Redis session store is :class:`bot.shared.RedisSessionStore`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

from cachetools import TTLCache
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
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


class _BoundedMovingWindows:
    """In-process moving windows with bounded, expiring memory: one deque of (time, cost) per key in a
    ``TTLCache`` (a key idle for a whole window is forgotten; at most ``max_keys`` keys, least recently used
    dropped first). ``limits``' own memory storage keeps every key it has seen."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._windows: dict[str, TTLCache[str, deque[tuple[float, int]]]] = {}
        self._lock = threading.Lock()

    def hit(self, scope: str, item: RateLimitItem, key: str, cost: int) -> float | None:
        """Record ``cost``; None when within the limit, else seconds until enough of the window frees up."""
        window = float(item.get_expiry())
        now = time.monotonic()
        with self._lock:
            cache = self._windows.get(scope)
            if cache is None:
                cache = self._windows[scope] = TTLCache(maxsize=self.max_keys, ttl=window)
            events = cache.get(key)
            if events is None:
                events = deque()
            while events and events[0][0] <= now - window:
                events.popleft()
            used = sum(c for _, c in events)
            if used + cost > item.amount:
                # wait until the oldest hits leave the window and free enough room
                free, wait = item.amount - used, window
                for at, c in events:
                    free += c
                    if free >= cost:
                        wait = at + window - now
                        break
                cache[key] = events
                return max(wait, 0.0)
            events.append((now, cost))
            cache[key] = events  # (re)insert: refreshes the key's idle expiry
            return None

    def keys(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._windows.values())


class RateLimiter:
    """Moving-window limits per session, per client (address or WeChat user), for feedback and for new
    conversations, e.g. ``"30/minute"``. A question costs ``1 + len(question) // cost_chars`` units, so long
    questions (which cost more to answer) use the allowance faster.

    In process by default (bounded, expiring memory); with ``storage_uri`` (``redis://…``) the ``limits``
    library keeps the windows in Redis, so a limit holds across every worker.
    """

    def __init__(
        self,
        per_session: str,
        per_client: str,
        per_client_feedback: str = "20/minute",
        per_client_new_sessions: str = "300/hour",
        *,
        cost_chars: int = 100,
        storage_uri: str = "",
        max_keys: int = 100_000,
    ) -> None:
        self._session = parse(per_session)
        self._client = parse(per_client)
        self._feedback = parse(per_client_feedback)
        self._new_sessions = parse(per_client_new_sessions)
        self.cost_chars = cost_chars
        self._memory: _BoundedMovingWindows | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if storage_uri:
            self._shared = MovingWindowRateLimiter(storage_from_string(storage_uri, key_prefix="pb-limits"))
        else:
            self._memory = _BoundedMovingWindows(max_keys)

    def cost(self, question: str) -> int:
        return 1 + len(question) // self.cost_chars

    def _hit(self, item: RateLimitItem, scope: str, key: str, cost: int, message: str) -> None:
        if self._memory is not None:
            wait = self._memory.hit(scope, item, key, cost)
            if wait is not None:
                raise RateLimited(message, retry_after=max(1, int(wait) + 1))
            return
        assert self._shared is not None
        try:
            allowed = self._shared.hit(item, scope, key, cost=cost)
        except Exception as exc:  # Redis down: refuse to answer rather than run without limits
            raise LimiterUnavailable("服务繁忙，请稍后再试", detail=f"rate limiter: {exc}") from exc
        if not allowed:
            reset = self._shared.get_window_stats(item, scope, key).reset_time
            raise RateLimited(message, retry_after=max(1, int(reset - time.time()) + 1))

    def check(self, client: str, session_id: str | None, cost: int = 1) -> None:
        cost = min(cost, self._client.amount)
        self._hit(self._client, "client", client, cost, "请求太频繁了，请稍后再试")
        if session_id:
            self._hit(self._session, "session", session_id, min(cost, self._session.amount), "请求太频繁了，请稍后再试")

    def check_new_session(self, client: str) -> None:
        self._hit(self._new_sessions, "new-session", client, 1, "新对话开得太频繁了，请稍后再试")

    def check_feedback(self, client: str) -> None:
        self._hit(self._feedback, "feedback", client, 1, "评价太频繁了，请稍后再试")

    def tracked_keys(self) -> int:
        """How many keys the in-process windows hold (0 with Redis)."""
        return self._memory.keys() if self._memory is not None else 0


class LimiterUnavailable(PolicyBotError):
    code = "busy"
    status = 503
    retry_after = 5
