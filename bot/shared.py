"""State shared by every worker process, in Redis (``POLICYBOT_REDIS_URL``; redis-py).

Without the setting each process keeps these in memory (the embedded default); with it, all workers see the
same state, behind the same small interfaces:

=====================  =========================================  ==============================================
what                   key (prefix ``pb:``)                       semantics
=====================  =========================================  ==============================================
sessions               ``session:<id>``                           JSON ``{"owner", "session": Session.to_dict()}``,
                                                                  expires after the idle TTL (refreshed per turn)
answer cache           ``answer:<sha256 of question, cities>``     JSON ``{"answer", "session"}``, 1 hour
OA message dedup       ``mp:claim:<MsgId>`` / ``mp:reply:<MsgId>``  one worker claims a message (``SET NX``) and
                       / ``mp:delivered:<MsgId>``                 answers it; the reply is published for retries
                                                                  on other workers; delivery is claimed once
OA nonces              ``mp:nonce:<timestamp>:<nonce>``           body digest, ``SET NX`` for the window
OA conversations       ``mp:session:<openid>``                    the openid's session id
WeChat access token    ``wx:token:<appid>``, ``wx:token-lock:…``   one refresh at a time across workers
index generations      ``index:worker:<host:pid>``                the generation each worker serves (heartbeat)
rate limits            ``LIMITER/…`` (the ``limits`` library)      moving windows in Redis
=====================  =========================================  ==============================================

Example::

    >>> shared = SharedState.connect("redis://127.0.0.1:6379/0")
    >>> sessions = RedisSessionStore(shared, ttl_seconds=1800, max_turns=20)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from bot.answer import Answer, Session
from bot.errors import PolicyBotError

log = logging.getLogger("policybot.shared")

PREFIX = "pb:"


class SharedStateUnavailable(PolicyBotError):
    code = "shared_state_unavailable"
    status = 503
    retry_after = 5


@dataclass
class SharedState:
    """One Redis connection pool for the process (redis-py clients are thread-safe)."""

    client: redis.Redis
    url: str

    @classmethod
    def connect(cls, url: str, *, timeout: float = 2.0) -> SharedState:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        return cls(client, url)

    def key(self, *parts: str) -> str:
        return PREFIX + ":".join(parts)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.client.close()


def _text(raw: object) -> str | None:
    """A Redis reply as text (None stays None)."""
    if raw is None:
        return None
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def _unavailable(exc: Exception) -> SharedStateUnavailable:
    return SharedStateUnavailable("服务繁忙，请稍后再试", detail=f"redis: {type(exc).__name__}: {exc}")


# --- sessions ------------------------------------------------------------------------------------------
class RedisSessionStore:
    """Sessions as JSON (``Session.to_dict()``, so fields added to the session pass through) with idle TTL."""

    def __init__(self, shared: SharedState, ttl_seconds: int, max_turns: int) -> None:
        self.shared = shared
        self.ttl = ttl_seconds
        self.max_turns = max_turns

    def get(self, session_id: str | None, owner: str | None) -> Session | None:
        if not session_id:
            return None
        try:
            raw = self.shared.client.get(self.shared.key("session", session_id))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if raw is None:
            return None
        entry = json.loads(raw)
        session = Session.from_dict(entry["session"])
        if entry.get("owner") != owner or session.turns >= self.max_turns:
            return None
        return session

    def put(self, session: Session, owner: str | None) -> None:
        value = json.dumps({"owner": owner, "session": session.to_dict()}, ensure_ascii=False)
        try:
            self.shared.client.set(self.shared.key("session", session.id), value, ex=self.ttl)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc


# --- answer cache ----------------------------------------------------------------------------------------
class RedisAnswerCache:
    """The answer cache of context-free questions (same get/put surface as the in-process LRU).

    Keys are the question and the cities; values the answer and the session state it leaves. A Redis failure
    is a miss (answering never depends on the cache)."""

    def __init__(self, shared: SharedState, ttl_seconds: int = 3600, namespace: str = "") -> None:
        self.shared = shared
        self.ttl = ttl_seconds
        self.namespace = namespace  # the index generation: a rebuilt index never serves old answers

    def _key(self, key: tuple[str, ...]) -> str:
        digest = hashlib.sha256("\x1f".join((self.namespace, *key)).encode("utf-8")).hexdigest()
        return self.shared.key("answer", digest)

    def get(self, key: tuple[str, str, str]) -> tuple[Answer, Session] | None:
        try:
            raw = self.shared.client.get(self._key(key))
        except redis.RedisError:
            return None
        if raw is None:
            return None
        entry = json.loads(raw)
        return Answer.model_validate(entry["answer"]), Session.from_dict(entry["session"])

    def put(self, key: tuple[str, str, str], value: tuple[Answer, Session]) -> None:
        answer, session = value
        payload = json.dumps({"answer": answer.model_dump(mode="json"), "session": session.to_dict()})
        try:
            self.shared.client.set(self._key(key), payload, ex=self.ttl)
        except redis.RedisError as exc:
            log.debug("answer cache put failed: %s", exc)


# --- Official Account: dedup, delivery, nonces, conversations ---------------------------------------------
class RedisMpState:
    """What the Official Account channel shares across workers."""

    def __init__(self, shared: SharedState, dedup_seconds: int, session_ttl_seconds: int) -> None:
        self.shared = shared
        self.dedup = dedup_seconds
        self.session_ttl = session_ttl_seconds

    def claim(self, dedup_key: str) -> bool:
        """True for the one worker that answers this message; retries elsewhere get False."""
        return bool(self.shared.client.set(self.shared.key("mp", "claim", dedup_key), "1", nx=True, ex=self.dedup))

    def publish_reply(self, dedup_key: str, text: str) -> None:
        self.shared.client.set(self.shared.key("mp", "reply", dedup_key), text.encode("utf-8"), ex=self.dedup)

    def reply(self, dedup_key: str) -> str | None:
        return _text(self.shared.client.get(self.shared.key("mp", "reply", dedup_key)))

    def claim_delivery(self, dedup_key: str, kind: str) -> bool:
        """Never both a passive reply and a push: the first kind (``passive`` or ``push``) to claim wins; a
        further passive reply (WeChat's retry) is allowed after a passive one, a push only as the first."""
        key = self.shared.key("mp", "delivered", dedup_key)
        if self.shared.client.set(key, kind, nx=True, ex=self.dedup):
            return True
        return kind == "passive" and _text(self.shared.client.get(key)) == "passive"

    def remember_nonce(self, timestamp: str, nonce: str, digest: str, ttl: int) -> str | None:
        """Store ``digest`` for a new pair (None) or return the digest stored for a pair seen before."""
        key = self.shared.key("mp", "nonce", timestamp, nonce)
        if self.shared.client.set(key, digest, nx=True, ex=ttl):
            return None
        return _text(self.shared.client.get(key))

    def session_of(self, openid: str) -> str | None:
        return _text(
            self.shared.client.get(self.shared.key("mp", "session", hashlib.sha256(openid.encode()).hexdigest()))
        )

    def set_session(self, openid: str, session_id: str) -> None:
        key = self.shared.key("mp", "session", hashlib.sha256(openid.encode()).hexdigest())
        self.shared.client.set(key, session_id, ex=self.session_ttl)


# --- WeChat access token -------------------------------------------------------------------------------
class RedisTokenCache:
    """The access token of one WeChat app, shared by all workers; one refresh at a time (a lock key)."""

    def __init__(self, shared: SharedState, appid: str, lock_seconds: float = 15.0) -> None:
        self.shared = shared
        self.key = shared.key("wx", "token", appid)
        self.lock_key = shared.key("wx", "token-lock", appid)
        self.lock_seconds = lock_seconds

    def get(self) -> str | None:
        return _text(self.shared.client.get(self.key))

    def put(self, token: str, ttl_seconds: int) -> None:
        self.shared.client.set(self.key, token, ex=max(ttl_seconds, 1))

    def invalidate(self, stale: str) -> None:
        """Delete the token only if it is still ``stale`` (a newer one fetched meanwhile stays)."""
        self.shared.client.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            1,
            self.key,
            stale,
        )

    def refresh_lock(self) -> Any:
        return self.shared.client.lock(self.lock_key, timeout=self.lock_seconds, blocking_timeout=self.lock_seconds)


# --- index generations -----------------------------------------------------------------------------------
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class WorkerRegistry:
    """Each worker announces the index generation it serves (a heartbeat key that expires when it dies)."""

    def __init__(self, shared: SharedState, ttl_seconds: int = 30) -> None:
        self.shared = shared
        self.ttl = ttl_seconds
        self._lock = threading.Lock()

    def announce(self, generation: str | None) -> None:
        value = json.dumps({"worker": WORKER_ID, "generation": generation, "at": time.time()})
        try:
            self.shared.client.set(self.shared.key("index", "worker", WORKER_ID), value, ex=self.ttl)
        except redis.RedisError as exc:
            log.debug("worker heartbeat failed: %s", exc)

    def workers(self) -> list[dict[str, Any]]:
        try:
            keys = sorted(self.shared.client.scan_iter(match=self.shared.key("index", "worker", "*"), count=100))
            values = self.shared.client.mget(keys) if keys else []
        except redis.RedisError:
            return []
        return [json.loads(v) for v in values if v is not None]
