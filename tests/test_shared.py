"""Two server processes on one real Redis and one real PostgreSQL: a conversation, a rate limit, an Official
Account retry and a reindex hold across processes; kill -9 of one process loses no acknowledged feedback;
a spoofed X-Forwarded-For cannot dodge the per-client limit."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from bot.auth import user_tag
from bot.config import Settings

from .conftest import NOTICE, make_settings
from .server import Server, uvicorn_server
from .waiting import wait_until

MP_TOKEN = "shared-mp-token"
ADMIN = {"Authorization": "Bearer shared-admin"}


@pytest.fixture(scope="module")
def pair(
    full_settings: Settings,
    full_index: Any,
    redis_url: str,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Server]]:
    tmp = tmp_path_factory.mktemp("pair")
    settings = make_settings(tmp, [NOTICE])  # an index directory of their own: the reindex test rebuilds it
    shutil.copytree(full_settings.build_path, settings.build_path, symlinks=True)
    redis.Redis.from_url(redis_url).flushdb()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS feedback, messages, schema_migrations")
    env = {
        "POLICYBOT_INDEX_DIR": str(settings.index_dir),
        "POLICYBOT_REDIS_URL": redis_url,
        "POLICYBOT_DATABASE_URL": postgres_url,
        "POLICYBOT_TRUSTED_PROXIES": '["127.0.0.1"]',
        "POLICYBOT_RATE_LIMIT_CLIENT": "6/minute",
        "POLICYBOT_RATE_LIMIT_SESSION": "1000/minute",
        "POLICYBOT_RATE_LIMIT_FEEDBACK": "100000/minute",
        "POLICYBOT_FEEDBACK_MAX_PER_MESSAGE": "100",
        "POLICYBOT_MP_TOKEN": MP_TOKEN,
        "POLICYBOT_ADMIN_TOKEN": "shared-admin",
        "POLICYBOT_INDEX_WATCH_SECONDS": "0.5",
    }
    with uvicorn_server(env, tmp / "a.log") as a, uvicorn_server(env, tmp / "b.log") as b:
        yield a, b


def _client_ip() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}"


def _ask(server: Server, ip: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/ask", json=body, headers={"X-Forwarded-For": ip}, timeout=60)


def test_a_follow_up_on_the_other_process_keeps_measure_and_city(pair: tuple[Server, Server]) -> None:
    a, b = pair
    ip = _client_ip()
    first = _ask(a, ip, question="外卖骑手的职业伤害保障是怎么回事？", city="苏州").json()
    assert first["citations"][0]["measure"] == 14
    second = _ask(b, ip, question="这事归人社厅哪个处管？", session_id=first["session_id"]).json()
    assert second["session_id"] == first["session_id"]
    assert second["citations"][0]["measure"] == 14 and "工伤处" in second["answer"]
    assert second["city"] == "苏州" and second["bureau"] == "苏州市人力资源和社会保障局"


def test_a_rate_limit_holds_across_processes_and_spoofing_does_not_dodge_it(pair: tuple[Server, Server]) -> None:
    a, b = pair
    real = _client_ip()
    codes = []
    for k in range(8):
        # the client writes any X-Forwarded-For it likes; the proxy (loopback, trusted) appends the real address
        spoofed = f"10.{k}.{k}.{k}, 203.0.113.{k}, {real}"
        codes.append(_ask(a if k % 2 else b, spoofed, question="苏畅卡").status_code)
    assert codes == [200] * 6 + [429] * 2


def test_a_retried_official_account_message_is_answered_once(pair: tuple[Server, Server], postgres_url: str) -> None:
    a, b = pair
    openid = f"o-shared-{secrets.token_hex(4)}"
    ts, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    params = {
        "signature": hashlib.sha1("".join(sorted([MP_TOKEN, ts, nonce])).encode()).hexdigest(),
        "timestamp": ts,
        "nonce": nonce,
        "openid": openid,
    }
    body = (
        f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[苏畅卡是什么]]></Content><MsgId>{secrets.randbelow(10**15)}</MsgId></xml>"
    ).encode()
    replies: list[httpx.Response] = []

    def deliver(server: Server) -> None:  # WeChat's retries: the same signed request, to whichever process
        replies.append(httpx.post(f"{server.url}/wechat/mp", params=params, content=body, timeout=30))

    threads = [threading.Thread(target=deliver, args=(s,)) for s in (a, b, a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in replies] == [200, 200, 200]
    texts = {r.text.split("<Content>")[1].split("</Content>")[0] for r in replies if "<Content>" in r.text}
    assert len(texts) == 1 and "苏畅卡" in texts.pop()
    with psycopg.connect(postgres_url) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM messages WHERE user_id = %s", (user_tag(openid),)).fetchone()  # type: ignore[misc]
    assert n == 1


def test_a_reindex_switches_every_process(pair: tuple[Server, Server]) -> None:
    a, b = pair
    before = httpx.get(f"{b.url}/v1/admin/status", headers=ADMIN, timeout=10).json()["version"]
    assert httpx.post(f"{a.url}/v1/admin/reindex", headers=ADMIN, timeout=10).json()["started"] is True
    status_a = wait_until(
        lambda: (
            (s := httpx.get(f"{a.url}/v1/admin/status", headers=ADMIN, timeout=10).json())["reindex"] == "idle"
            and s["version"] != before
            and s
        ),
        timeout=600,
        interval=0.5,
        what="the rebuild on A",
    )
    new = status_a["version"]
    wait_until(
        lambda: httpx.get(f"{b.url}/v1/admin/status", headers=ADMIN, timeout=10).json()["version"] == new,
        timeout=30,
        what="B switching",
    )
    workers = wait_until(
        lambda: (
            (w := httpx.get(f"{b.url}/v1/admin/status", headers=ADMIN, timeout=10).json()["workers"])
            and len(w) == 2
            and {x["generation"] for x in w} == {new}
            and w
        ),
        timeout=30,
        what="both workers announcing the new generation",
    )
    assert len({w["worker"] for w in workers}) == 2
    assert httpx.get(f"{b.url}/v1/admin/status", headers=ADMIN, timeout=10).json()["attempts"] == 0  # B built nothing


def test_kill_9_of_one_process_loses_no_acknowledged_feedback(pair: tuple[Server, Server], postgres_url: str) -> None:
    a, b = pair
    ip = _client_ip()
    message_id = _ask(b, ip, question="稳岗返还").json()["message_id"]
    acknowledged: list[int] = []
    stop = threading.Event()

    def post_feedback() -> None:
        with httpx.Client(timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post(f"{a.url}/v1/feedback", json={"message_id": message_id, "helpful": True})
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])

    writer = threading.Thread(target=post_feedback)
    writer.start()
    wait_until(lambda: len(acknowledged) > 10, timeout=60, what="some acknowledged feedback")
    a.kill()
    stop.set()
    writer.join(timeout=10)
    with psycopg.connect(postgres_url) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM feedback WHERE message_id = %s", (message_id,))}
    assert set(acknowledged) <= stored
    r = httpx.post(f"{b.url}/v1/feedback", json={"message_id": message_id, "helpful": False}, timeout=10)
    assert r.status_code == 201  # the other process goes on
    assert Path(b.log).read_text(errors="replace").count("Traceback") == 0
