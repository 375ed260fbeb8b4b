"""Rate limits (bounded, expiring memory; Redis through ``limits``), cost weighting, new-session quota, the
client address behind trusted proxies, and the Redis session store."""

from __future__ import annotations

import ipaddress
import secrets

import pytest
import redis

from bot.answer import Session
from bot.api import client_address
from bot.sessions import RateLimited, RateLimiter
from bot.shared import RedisSessionStore, SharedState


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_limits_weigh_long_questions(storage: str, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue("redis_url") if storage == "redis" else ""
    limiter = RateLimiter("100/minute", "10/minute", cost_chars=100, storage_uri=uri)
    client = f"c-{secrets.token_hex(4)}"
    long_question = "稳" * 499
    assert limiter.cost(long_question) == 5 and limiter.cost("苏畅卡") == 1
    limiter.check(client, None, cost=limiter.cost(long_question))
    limiter.check(client, None, cost=limiter.cost(long_question))
    with pytest.raises(RateLimited) as err:
        limiter.check(client, None, cost=1)  # two long questions used the whole allowance
    assert err.value.retry_after >= 1
    limiter.check(f"other-{client}", None, cost=1)


def test_memory_limits_forget_idle_keys_and_stay_bounded() -> None:
    limiter = RateLimiter("10/second", "10/second", max_keys=500)
    for k in range(5000):
        limiter.check(f"spoofed-{k}", None)
    assert limiter.tracked_keys() <= 500


def test_new_conversations_have_a_quota_per_client() -> None:
    limiter = RateLimiter("30/minute", "1000/minute", per_client_new_sessions="3/hour")
    for _ in range(3):
        limiter.check_new_session("flooder")
    with pytest.raises(RateLimited):
        limiter.check_new_session("flooder")
    limiter.check_new_session("citizen")


LOOPBACK = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        ("127.0.0.1", ["1.2.3.4"], [], "127.0.0.1"),  # no trusted proxies: the header is ignored
        ("203.0.113.9", ["1.2.3.4"], LOOPBACK, "203.0.113.9"),  # not from a proxy: ignored
        ("127.0.0.1", ["9.9.9.9, 203.0.113.9"], LOOPBACK, "203.0.113.9"),  # right-most, not the spoofed left
        ("127.0.0.1", ["9.9.9.9", "203.0.113.9, 10.1.2.3"], LOOPBACK, "203.0.113.9"),  # proxies skipped
        ("127.0.0.1", ["10.1.2.3"], LOOPBACK, "127.0.0.1"),  # only proxies: the socket
        ("127.0.0.1", [], LOOPBACK, "127.0.0.1"),
    ],
)
def test_client_address(peer: str, forwarded: list[str], proxies: list, expected: str) -> None:  # type: ignore[type-arg]
    assert client_address(peer, forwarded, proxies) == expected


def test_redis_sessions_round_trip_their_dict(redis_url: str) -> None:
    store = RedisSessionStore(SharedState.connect(redis_url), ttl_seconds=60, max_turns=3)
    s = Session(city="苏州", last_measure="doc#7", last_question="稳岗返还", turns=1)
    store.put(s, "o-user")
    back = store.get(s.id, "o-user")
    assert back is not None and back.to_dict() == s.to_dict()
    assert store.get(s.id, "someone-else") is None  # bound to its owner
    assert 0 < redis.Redis.from_url(redis_url).ttl(f"pb:session:{s.id}") <= 60
    store.put(Session(id=s.id, turns=3), "o-user")
    assert store.get(s.id, "o-user") is None  # turn limit
