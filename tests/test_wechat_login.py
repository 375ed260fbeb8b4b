"""Mini-program login against a fake WeChat server on a loopback port (a real HTTP server, no mocks).

Covers: code → our token → attributed /v1/ask, /v1/ask/stream and /v1/feedback; replayed and invalid codes;
WeChat's error codes, timeouts and connection errors mapped to {code, message}; invalid, tampered, foreign
and expired tokens; anonymous mode without AppID/secret; and that ``session_key`` never reaches a log line
or the SQLite file.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from bot.api import create_app
from bot.auth import TokenSigner, WeChatAuth, user_tag
from bot.config import Settings
from bot.service import ChatService
from tests.fakes.wechat_app import MINI_APPID, MINI_SECRET, wechat_settings
from tests.fakes.wechat_server import FakeWeChat, FakeWeChatServer

QUESTION = "我们厂搞智能化改造，多出来的工人怎么安置？"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(FakeWeChat(apps={MINI_APPID: MINI_SECRET})) as server:
        yield server


@pytest.fixture
def settings(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer) -> Settings:
    return wechat_settings(full_settings, tmp_path, fake.url)


def client_for(settings: Settings, bot: Any) -> TestClient:
    return TestClient(create_app(settings, service=ChatService(settings, bot=bot)))


@pytest.fixture
def client(settings: Settings, bot: Any) -> Iterator[TestClient]:
    with client_for(settings, bot) as c:
        yield c


def login(client: TestClient, fake: FakeWeChatServer, openid: str) -> str:
    r = client.post("/v1/auth/wechat", json={"code": fake.fake.issue_code(openid)})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- login --------------------------------------------------------------------------------------------
def test_login_returns_our_token_bound_to_the_openid(client: TestClient, fake: FakeWeChatServer) -> None:
    code = fake.fake.issue_code("o-user-alice")
    r = client.post("/v1/auth/wechat", json={"code": code})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 7200
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "o-user-alice"
    assert claims["aud"] == MINI_APPID
    assert claims["exp"] - claims["iat"] == 7200
    assert "session_key" not in r.text
    assert fake.fake.issued_session_keys[-1] not in r.text


def test_replayed_code_fails_like_wechat(client: TestClient, fake: FakeWeChatServer) -> None:
    code = fake.fake.issue_code("o-user-replay")
    assert client.post("/v1/auth/wechat", json={"code": code}).status_code == 200
    r = client.post("/v1/auth/wechat", json={"code": code})
    assert r.status_code == 401
    assert r.json()["code"] == "wechat_code_invalid"
    assert r.json()["message"]
    assert fake.fake.login_errcodes[-1] == 40163  # the fake server rejected the reuse, as WeChat does


def test_invalid_code(client: TestClient, fake: FakeWeChatServer) -> None:
    r = client.post("/v1/auth/wechat", json={"code": "never-issued-code"})
    assert r.status_code == 401
    assert r.json()["code"] == "wechat_code_invalid"
    assert fake.fake.login_errcodes[-1] == 40029


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (45011, 429, "wechat_rate_limited"),
        (40226, 403, "wechat_user_blocked"),
        (-1, 503, "wechat_unavailable"),
        (40013, 502, "wechat_error"),
    ],
)
def test_wechat_error_codes_map_to_clear_errors(
    client: TestClient, fake: FakeWeChatServer, errcode: int, status: int, code: str
) -> None:
    fake.fake.code_errors[f"code-{errcode}"] = errcode
    r = client.post("/v1/auth/wechat", json={"code": f"code-{errcode}"})
    assert r.status_code == status
    assert r.json()["code"] == code
    assert r.json()["message"]
    if status == 429:
        assert int(r.headers["Retry-After"]) > 0


def test_wrong_secret_is_an_upstream_error(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any):
    from pydantic import SecretStr

    s = wechat_settings(full_settings, tmp_path, fake.url, wechat_secret=SecretStr("wrong"))
    with client_for(s, bot) as c:
        r = c.post("/v1/auth/wechat", json={"code": fake.fake.issue_code("o-x")})
    assert r.status_code == 502
    assert r.json()["code"] == "wechat_error"


def test_timeout_is_503(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any) -> None:
    s = wechat_settings(full_settings, tmp_path, fake.url, wechat_timeout_seconds=0.3)
    fake.fake.slow_codes["slow-code"] = 3.0
    with client_for(s, bot) as c:
        started = time.perf_counter()
        r = c.post("/v1/auth/wechat", json={"code": "slow-code"})
    assert time.perf_counter() - started < 2.5
    assert r.status_code == 503
    assert r.json() == {"code": "wechat_unavailable", "message": r.json()["message"]}


def test_connection_refused_is_503(full_settings: Settings, tmp_path: Path, bot: Any) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = wechat_settings(full_settings, tmp_path, f"http://127.0.0.1:{port}")
    with client_for(settings, bot) as c:
        r = c.post("/v1/auth/wechat", json={"code": "abc"})
    assert r.status_code == 503
    assert r.json()["code"] == "wechat_unavailable"


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "a b"}, {"code": "x" * 200}])
def test_login_validation(client: TestClient, body: dict[str, str]) -> None:
    r = client.post("/v1/auth/wechat", json=body)
    assert r.status_code == 422
    assert set(r.json()) == {"code", "message"}


# --- attribution --------------------------------------------------------------------------------------
def test_ask_stream_and_feedback_are_attributed_to_the_openid(
    client: TestClient, fake: FakeWeChatServer, settings: Settings
) -> None:
    token = login(client, fake, "o-user-bob")
    r = client.post("/v1/ask", json={"question": QUESTION}, headers=bearer(token))
    assert r.status_code == 200
    a = r.json()
    assert a["citations"][0]["label"] == "（七）"
    f = client.post("/v1/feedback", json={"message_id": a["message_id"], "helpful": True}, headers=bearer(token))
    assert f.status_code == 201
    s = client.post("/v1/ask/stream", json={"question": QUESTION}, headers=bearer(token))
    assert s.status_code == 200
    frames = [json.loads(line[6:]) for line in s.text.split("\n\n") if line.startswith("data: {")]
    stream_mid = next(f["message_id"] for f in frames if f["type"] == "end")

    db = sqlite3.connect(settings.db_path)
    users = dict(db.execute("SELECT message_id, user_id FROM messages").fetchall())
    # stored as the app's tag of the openid, never the openid itself
    assert users[a["message_id"]] == user_tag("o-user-bob")
    assert users[stream_mid] == user_tag("o-user-bob")
    assert db.execute("SELECT user_id FROM feedback").fetchall() == [(user_tag("o-user-bob"),)]
    assert not db.execute("SELECT COUNT(*) FROM messages WHERE user_id LIKE 'o-user%'").fetchone()[0]
    db.close()


def test_session_is_bound_to_the_openid(client: TestClient, fake: FakeWeChatServer) -> None:
    alice, mallory = login(client, fake, "o-alice-2"), login(client, fake, "o-mallory")
    first = client.post("/v1/ask", json={"question": QUESTION}, headers=bearer(alice)).json()
    # another user presenting alice's session id gets a fresh session, not alice's conversation
    r = client.post(
        "/v1/ask", json={"question": "我在苏州", "session_id": first["session_id"]}, headers=bearer(mallory)
    )
    assert r.json()["session_id"] != first["session_id"]
    same = client.post(
        "/v1/ask", json={"question": "我在苏州", "session_id": first["session_id"]}, headers=bearer(alice)
    )
    assert same.json()["session_id"] == first["session_id"]


@pytest.mark.parametrize("endpoint", ["/v1/ask", "/v1/ask/stream"])
def test_invalid_token_is_401(client: TestClient, endpoint: str) -> None:
    r = client.post(endpoint, json={"question": QUESTION}, headers=bearer("not-a-token"))
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"
    assert r.json()["message"]


def test_tampered_foreign_and_unsigned_tokens_are_401(client: TestClient, fake: FakeWeChatServer) -> None:
    token = login(client, fake, "o-user-carol")
    head, payload, sig = token.split(".")
    tampered = f"{head}.{payload}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"
    other_app = TokenSigner(MINI_SECRET.encode(), "wx-another-app", 600).issue("o-user-carol").token
    claims = jwt.decode(token, options={"verify_signature": False})
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
            for part in ({"alg": "none", "typ": "JWT"}, claims)
        )
        + "."
    )  # alg "none" with valid claims: must still be refused
    for bad in (tampered, other_app, unsigned, "Basic " + token):
        headers = {"Authorization": bad} if bad.startswith("Basic") else bearer(bad)
        r = client.post("/v1/ask", json={"question": QUESTION}, headers=headers)
        assert r.status_code == 401, bad
        assert r.json()["code"] == "invalid_token"


def test_expired_token_is_401(client: TestClient, settings: Settings) -> None:
    signer = WeChatAuth(settings).signer
    assert signer is not None
    old = signer.issue("o-user-dave", now=time.time() - 7201).token
    r = client.post("/v1/feedback", json={"message_id": "x", "helpful": True}, headers=bearer(old))
    assert r.status_code == 401
    assert r.json()["code"] == "token_expired"


def test_token_required_when_configured_so(
    full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any
) -> None:
    s = wechat_settings(full_settings, tmp_path, fake.url, auth_allow_anonymous=False)
    with client_for(s, bot) as c:
        r = c.post("/v1/ask", json={"question": QUESTION})
        assert r.status_code == 401
        assert r.json()["code"] == "login_required"


def test_anonymous_allowed_by_default(
    full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any
) -> None:
    s = wechat_settings(full_settings, tmp_path, fake.url)
    with client_for(s, bot) as c:
        assert c.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        assert c.post("/v1/ask", json={"question": QUESTION}, headers=bearer("garbage")).status_code == 401


def test_without_appid_the_service_is_anonymous(full_settings: Settings, tmp_path: Path, bot: Any) -> None:
    s = full_settings.model_copy(update={"db_path": tmp_path / "db.sqlite3"})
    with client_for(s, bot) as c:
        assert c.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        # a token is neither required nor read
        assert c.post("/v1/ask", json={"question": QUESTION}, headers=bearer("whatever")).status_code == 200
        r = c.post("/v1/auth/wechat", json={"code": "abc"})
        assert r.status_code == 404
        assert r.json()["code"] == "wechat_not_configured"


# --- secrets stay on the server -------------------------------------------------------------------------
def test_session_key_and_secret_never_reach_logs_or_database(
    client: TestClient, fake: FakeWeChatServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, httpx's request lines included
    code = fake.fake.issue_code("o-user-erin")
    token = client.post("/v1/auth/wechat", json={"code": code}).json()["token"]
    session_key = fake.fake.issued_session_keys[-1]
    a = client.post("/v1/ask", json={"question": QUESTION + "电话13912345678"}, headers=bearer(token)).json()
    client.post("/v1/feedback", json={"message_id": a["message_id"], "helpful": False}, headers=bearer(token))
    client.post("/v1/auth/wechat", json={"code": code})  # a failing replay logs too

    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    assert "jscode2session" in logged  # httpx did log the request line …
    assert session_key not in logged  # … but never the session_key,
    assert MINI_SECRET not in logged  # the AppSecret
    assert code not in logged  # or the single-use code

    client.app.state.service.store.close()  # type: ignore[attr-defined]
    stored = b"".join(p.read_bytes() for p in settings.db_path.parent.iterdir() if p.is_file())
    assert session_key.encode() not in stored
    assert b"session_key" not in stored
    assert b"13912345678" not in stored  # and the question was stored masked
