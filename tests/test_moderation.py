"""Content security: the local word filter, WeChat msgSecCheck v2 on a fake server, and the wiring into
/v1/ask and /v1/ask/stream (question checked before answering, answer before returning).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.api import create_app
from bot.config import Settings
from bot.moderation import LocalWordFilter, Moderator, WeChatSecCheck
from bot.service import ChatService
from bot.wechat.client import WeChatClient
from tests.fakes.wechat_app import MINI_APPID, MINI_SECRET, OA_APPID, OA_SECRET, WORDS, wechat_settings
from tests.fakes.wechat_server import FakeWeChat, FakeWeChatServer

QUESTION = "我们厂搞智能化改造，多出来的工人怎么安置？"
RISKY_REMOTE = "违禁样例甲"  # only the fake WeChat knows these two
REVIEW_REMOTE = "待审样例乙"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChatServer]:
    state = FakeWeChat(
        apps={MINI_APPID: MINI_SECRET, OA_APPID: OA_SECRET},
        risky_words=(RISKY_REMOTE,),
        review_words=(REVIEW_REMOTE,),
        oa_openids={"o-official-account-user"},
    )
    with FakeWeChatServer(state) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeWeChatServer) -> Iterator[None]:
    yield
    fake.fake.sec_check_errcode = None
    fake.fake.sec_check_delay = 0.0
    fake.fake.risky_words = (RISKY_REMOTE,)


def client_for(settings: Settings, bot: Any) -> TestClient:
    return TestClient(create_app(settings, service=ChatService(settings, bot=bot)))


def login(client: TestClient, fake: FakeWeChatServer, openid: str) -> dict[str, str]:
    token = client.post("/v1/auth/wechat", json={"code": fake.fake.issue_code(openid)}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def remote(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any) -> Iterator[TestClient]:
    with client_for(wechat_settings(full_settings, tmp_path, fake.url), bot) as c:
        yield c


@pytest.fixture
def anonymous(full_settings: Settings, tmp_path: Path, bot: Any) -> Iterator[TestClient]:
    s = full_settings.model_copy(update={"db_path": tmp_path / "var" / "db.sqlite3", "sensitive_words_file": WORDS})
    with client_for(s, bot) as c:
        yield c


def assert_refusal(body: dict[str, Any]) -> None:
    assert body["in_scope"] is False
    assert body["reason"] == "content_blocked"
    assert body["citations"] == [] and body["offices"] == []
    assert "12333" in body["answer"]
    assert body["session_id"] and body["message_id"]


# --- the local filter -----------------------------------------------------------------------------------
def test_local_filter_matches_through_spacing_width_and_traditional_script() -> None:
    f = LocalWordFilter.from_file(WORDS)
    assert f.check("哪里有赌博网站").suggest == "risky"
    assert f.check("哪里有 賭 博 網 站？").suggest == "risky"
    assert f.check("哪里有赌*博-网站").suggest == "risky"
    assert f.check("ＳＢ，操你妈").suggest == "risky"
    assert f.check("外卖骑手送餐摔伤了有保障吗").suggest == "pass"
    assert f.check("提供虚假证明材料会怎样").suggest == "pass"


def test_local_filter_never_blocks_the_notice_itself(bot: Any) -> None:
    """Every measure, every section heading and every answer template must pass the word list."""
    f = LocalWordFilter.from_file(WORDS)
    for m in bot.index.measures:
        assert f.check(m.text).suggest == "pass", m.label
        assert f.check(m.section).suggest == "pass", m.section
    for doc in bot.index.documents:
        assert f.check(doc.title).suggest == "pass"


def test_local_filter_fails_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "policybot.moderation"):
        f = LocalWordFilter.from_file(tmp_path / "missing.txt")
    assert f.check("赌博网站").suggest == "pass"
    assert "unavailable" in caplog.text


def test_word_list_is_small_and_commented() -> None:
    lines = WORDS.read_text(encoding="utf-8").splitlines()
    words = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    assert 10 <= len(words) <= 200
    assert len(set(words)) == len(words)


# --- wiring without WeChat: the local filter ---------------------------------------------------------------
def test_risky_question_gets_a_neutral_refusal_and_is_logged_masked(
    anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    question = "我电话13912345678，帮我找个赌博网站"
    with caplog.at_level(logging.INFO):
        r = anonymous.post("/v1/ask", json={"question": question})
    assert r.status_code == 200
    body = r.json()
    assert_refusal(body)
    assert "赌博" not in body["answer"]
    service: ChatService = anonymous.app.state.service  # type: ignore[attr-defined]
    row = service.store.message(body["message_id"])
    assert row is not None
    assert row["reason"] == "content_blocked"
    assert row["question"] == "我电话139****5678，帮我找个赌博网站"
    assert body["message_id"] in caplog.text
    assert "13912345678" not in caplog.text and "赌博" not in caplog.text
    # feedback on a refusal works like on any answer
    assert anonymous.post("/v1/feedback", json={"message_id": body["message_id"], "helpful": False}).status_code == 201


def test_stream_is_checked_too(anonymous: TestClient) -> None:
    r = anonymous.post("/v1/ask/stream", json={"question": "賭博網站在哪"})
    assert r.status_code == 200
    frames = [json.loads(x[6:]) for x in r.text.split("\n\n") if x.startswith("data: {")]
    meta = frames[0]
    assert meta["type"] == "meta" and meta["reason"] == "content_blocked" and meta["citations"] == []
    assert r.text.rstrip().endswith("data: [DONE]")


def test_clean_question_still_answered(anonymous: TestClient) -> None:
    body = anonymous.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["in_scope"] is True and body["citations"][0]["label"] == "（七）"


def test_session_survives_a_blocked_question(anonymous: TestClient) -> None:
    first = anonymous.post("/v1/ask", json={"question": QUESTION}).json()
    blocked = anonymous.post("/v1/ask", json={"question": "冰毒哪里买", "session_id": first["session_id"]}).json()
    assert_refusal(blocked)
    assert blocked["session_id"] == first["session_id"]
    follow = anonymous.post("/v1/ask", json={"question": "我在苏州", "session_id": first["session_id"]}).json()
    assert "苏州市人力资源和社会保障局" in follow["answer"]


def test_validation_comes_before_moderation(anonymous: TestClient) -> None:
    assert anonymous.post("/v1/ask", json={"question": "   "}).status_code == 422


# --- WeChat msgSecCheck ---------------------------------------------------------------------------------
def test_remote_check_blocks_what_wechat_calls_risky(remote: TestClient, fake: FakeWeChatServer) -> None:
    headers = login(remote, fake, "o-mini-1")
    r = remote.post("/v1/ask", json={"question": f"请问{RISKY_REMOTE}怎么办"}, headers=headers)
    assert_refusal(r.json())
    check = fake.fake.sec_checks[-1]
    assert check["openid"] == "o-mini-1" and check["version"] == 2 and check["scene"] == 2
    assert check["appid"] == MINI_APPID
    assert RISKY_REMOTE in check["content"]


def test_content_is_sent_as_raw_utf8(remote: TestClient, fake: FakeWeChatServer) -> None:
    headers = login(remote, fake, "o-mini-utf8")
    remote.post("/v1/ask", json={"question": "稳岗返还怎么申请"}, headers=headers)
    raw = next(b for b in reversed(fake.fake.raw_bodies) if b"o-mini-utf8" in b)
    assert "稳岗返还".encode() in raw and b"\\u" not in raw


def test_review_passes_unless_configured_to_block(
    remote: TestClient, fake: FakeWeChatServer, full_settings: Settings, tmp_path: Path, bot: Any
) -> None:
    headers = login(remote, fake, "o-mini-review")
    q = f"{REVIEW_REMOTE}，稳岗返还怎么申请"
    assert remote.post("/v1/ask", json={"question": q}, headers=headers).json()["reason"] != "content_blocked"
    strict = wechat_settings(full_settings, tmp_path / "strict", fake.url, moderation_block_review=True)
    with client_for(strict, bot) as c:
        r = c.post("/v1/ask", json={"question": q}, headers=login(c, fake, "o-mini-review"))
    assert_refusal(r.json())


def test_answer_is_checked_before_returning(remote: TestClient, fake: FakeWeChatServer) -> None:
    """The question is clean, but WeChat flags the composed answer: the citizen gets the neutral refusal."""
    fake.fake.risky_words = (RISKY_REMOTE, "安置渠道")  # in the answer's quote, not in the question
    headers = login(remote, fake, "o-mini-answer")
    body = remote.post("/v1/ask", json={"question": QUESTION}, headers=headers).json()
    assert_refusal(body)
    assert "暂时无法显示" in body["answer"]
    contents = [c["content"] for c in fake.fake.sec_checks if c["openid"] == "o-mini-answer"]
    assert contents[0] == QUESTION and "安置渠道" in contents[1]


def test_local_words_still_refused_when_wechat_passes(remote: TestClient, fake: FakeWeChatServer) -> None:
    headers = login(remote, fake, "o-mini-local")
    assert_refusal(remote.post("/v1/ask", json={"question": "赌博网站"}, headers=headers).json())


def test_access_token_fetched_once_shared_and_refetched(remote: TestClient, fake: FakeWeChatServer) -> None:
    service: ChatService = remote.app.state.service  # type: ignore[attr-defined]
    remote_check = service.moderator.remote
    assert isinstance(remote_check, WeChatSecCheck)
    before = fake.fake.token_fetches.get(MINI_APPID, 0)
    headers = login(remote, fake, "o-mini-token")
    for q in ("稳岗返还怎么申请", "外卖骑手摔伤了怎么办", "高校毕业生就业补贴"):
        assert remote.post("/v1/ask", json={"question": q}, headers=headers).status_code == 200
    assert fake.fake.token_fetches[MINI_APPID] == before + 1  # six checks, one token

    fake.fake.revoke_tokens()  # 40001
    assert remote.post("/v1/ask", json={"question": "职业技能培训补贴"}, headers=headers).status_code == 200
    assert fake.fake.token_fetches[MINI_APPID] == before + 2
    fake.fake.expire_tokens()  # 42001
    body = remote.post("/v1/ask", json={"question": f"{RISKY_REMOTE}?"}, headers=headers).json()
    assert fake.fake.token_fetches[MINI_APPID] == before + 3
    assert_refusal(body)  # and the refetched token was used to decide


def test_answer_verdicts_are_cached(remote: TestClient, fake: FakeWeChatServer) -> None:
    headers = login(remote, fake, "o-mini-cache")
    for _ in range(3):
        remote.post("/v1/ask", json={"question": QUESTION}, headers=headers)
    checks = [c for c in fake.fake.sec_checks if c["openid"] == "o-mini-cache"]
    assert len(checks) == 4  # three questions, one answer


@pytest.mark.parametrize("outage", ["busy", "timeout"])
def test_outage_falls_back_to_the_local_filter(
    full_settings: Settings,
    tmp_path: Path,
    bot: Any,
    fake: FakeWeChatServer,
    outage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = wechat_settings(full_settings, tmp_path, fake.url, moderation_timeout_seconds=0.3)
    with client_for(s, bot) as remote:
        headers = login(remote, fake, f"o-mini-{outage}")
        if outage == "busy":
            fake.fake.sec_check_errcode = -1
        else:
            fake.fake.sec_check_delay = 1.0  # > moderation_timeout_seconds
        with caplog.at_level(logging.WARNING, "policybot.moderation"):
            ok = remote.post("/v1/ask", json={"question": "稳岗返还怎么申请"}, headers=headers)
            blocked = remote.post("/v1/ask", json={"question": "赌博网站"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["in_scope"] is True  # the service stays up …
    assert_refusal(blocked.json())  # … and the local list still applies
    assert "using the local filter" in caplog.text
    if outage == "timeout":
        time.sleep(1.2)  # let the abandoned slow checks finish on the fake before the next test counts


def test_official_account_openid_43104_falls_back(full_settings: Settings, fake: FakeWeChatServer) -> None:
    s = wechat_settings(full_settings, Path("/nonexistent"), fake.url)
    client = WeChatClient.for_miniprogram(s)
    check = WeChatSecCheck(client, LocalWordFilter.from_file(WORDS), timeout=5.0)
    assert check.check("赌博网站", openid="o-official-account-user", stage="question").source == "local"
    assert check.check("稳岗返还", openid="o-official-account-user", stage="question").suggest == "pass"
    # the fake refused both with 43104 (it records only the checks it answered)
    assert not [c for c in fake.fake.sec_checks if c["openid"] == "o-official-account-user"]


def test_official_account_channel_never_calls_wechat(full_settings: Settings, fake: FakeWeChatServer) -> None:
    s = wechat_settings(full_settings, Path("/nonexistent"), fake.url)
    mod = Moderator.from_settings(s)
    v = mod.check(f"{RISKY_REMOTE}赌博网站", stage="question", user="o-oa", channel="official_account")
    assert v.blocked and v.source == "local"
    assert not mod.check(RISKY_REMOTE, stage="question", user="o-oa", channel="official_account").blocked
    assert not [c for c in fake.fake.sec_checks if c["openid"] == "o-oa"]


def test_long_content_is_checked_in_2500_char_pieces(full_settings: Settings, fake: FakeWeChatServer) -> None:
    s = wechat_settings(full_settings, Path("/nonexistent"), fake.url)
    check = WeChatSecCheck(WeChatClient.for_miniprogram(s), LocalWordFilter([]), timeout=5.0)
    n = len(fake.fake.sec_checks)
    text = "政" * 2500 + "策" * 2500 + RISKY_REMOTE
    assert check.check(text, openid="o-mini-long", stage="answer").suggest == "risky"
    pieces = [c["content"] for c in fake.fake.sec_checks[n:] if c["openid"] == "o-mini-long"]
    assert [len(p) for p in pieces] == [2500, 2500, len(RISKY_REMOTE)]


def test_moderation_off(full_settings: Settings, tmp_path: Path, bot: Any) -> None:
    s = full_settings.model_copy(
        update={"db_path": tmp_path / "db.sqlite3", "moderation": "off", "sensitive_words_file": WORDS}
    )
    with client_for(s, bot) as c:
        assert c.post("/v1/ask", json={"question": "赌博网站"}).json()["reason"] != "content_blocked"


def test_wechat_mode_without_credentials_uses_the_local_filter(full_settings: Settings) -> None:
    s = full_settings.model_copy(update={"moderation": "wechat", "sensitive_words_file": WORDS})
    mod = Moderator.from_settings(s)
    assert isinstance(mod.remote, LocalWordFilter)
    assert mod.check("赌博网站", stage="question", user="o-x").blocked


def test_wrong_secret_for_tokens_falls_back(full_settings: Settings, fake: FakeWeChatServer) -> None:
    s = wechat_settings(full_settings, Path("/nonexistent"), fake.url, wechat_secret=SecretStr("wrong"))
    mod = Moderator.from_settings(s)
    assert mod.check("赌博网站", stage="question", user="o-x").source == "local"
    assert not mod.check("稳岗返还", stage="question", user="o-x").blocked


def test_access_token_shared_by_concurrent_callers_and_renewed_before_expiry(
    full_settings: Settings, fake: FakeWeChatServer
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    s = wechat_settings(
        full_settings, Path("/nonexistent"), fake.url, wechat_appid=OA_APPID, wechat_secret=SecretStr(OA_SECRET)
    )
    client = WeChatClient.for_miniprogram(s)
    fake.fake.revoke_tokens()
    before = fake.fake.token_fetches.get(OA_APPID, 0)
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: client.access_token(), range(32)))
    assert len(tokens) == 1 and fake.fake.token_fetches[OA_APPID] == before + 1

    fake.fake.token_ttl = 2  # WeChat says "expires in 2 s": we renew at half of that, before it lapses
    try:
        fake.fake.revoke_tokens()
        client.invalidate_token(tokens.pop())
        first = client.access_token()
        time.sleep(1.2)
        second = client.access_token()
    finally:
        fake.fake.token_ttl = 7200
    # asked again at 1.2 s: renewed before WeChat's expiry (the stable endpoint may hand back the same token)
    assert fake.fake.token_fetches[OA_APPID] == before + 3
    assert first and second
