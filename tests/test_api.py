"""HTTP API through FastAPI's TestClient over the real bot (real index, real embedder, real SQLite file)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.api import create_app
from bot.config import Settings
from bot.service import ChatService


def _client(settings: Settings, bot, **overrides: object) -> TestClient:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update=overrides)
    return TestClient(create_app(s, ChatService(s, bot=bot)))


@pytest.fixture
def api(full_settings: Settings, bot, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    with _client(full_settings, bot, db_path=tmp_path / "api.sqlite3") as c:
        yield c


def parse_sse(raw: bytes) -> list[object]:
    frames = []
    for block in raw.decode("ascii").split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        frames.append(data if data == "[DONE]" else json.loads(data))
    return frames


def test_ask_follows_the_contract(api: TestClient) -> None:
    r = api.post("/v1/ask", json={"question": "我们厂搞智能化改造，多出来的工人怎么安置？"})
    assert r.status_code == 200
    a = r.json()
    assert set(a) >= {"answer", "in_scope", "citations", "offices", "session_id", "message_id", "ai_generated"}
    assert a["in_scope"] is True and a["ai_generated"] is False
    c = a["citations"][0]
    assert (c["measure"], c["label"], c["title"]) == (7, "（七）", "三、促进产业数字化转型升级")
    assert [o["name"] for o in a["offices"]][:3] == ["就业处", "就管中心", "职介中心"]
    assert {"name", "full_name", "kind", "measure"} <= set(a["offices"][0])
    assert len(a["session_id"]) >= 22  # >= 128 random bits, url-safe
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_follow_up_in_a_session(api: TestClient) -> None:
    first = api.post("/v1/ask", json={"question": "外卖骑手的职业伤害保障是怎么回事？"}).json()
    second = api.post("/v1/ask", json={"question": "这事归人社厅哪个处管？", "session_id": first["session_id"]}).json()
    assert second["session_id"] == first["session_id"]
    assert second["citations"][0]["measure"] == 14 and "工伤处" in second["answer"]
    third = api.post("/v1/ask", json={"question": "我在苏州", "session_id": first["session_id"]}).json()
    assert "苏州市人力资源和社会保障局" in third["answer"]


def test_unknown_session_id_starts_a_fresh_session(api: TestClient) -> None:
    a = api.post("/v1/ask", json={"question": "这个找哪个部门", "session_id": "forged-id-123"}).json()
    assert a["session_id"] != "forged-id-123"
    assert a["in_scope"] is False


def test_stream_reassembles_to_the_json_answer(api: TestClient) -> None:
    body = {"question": "数字技能培训有补贴吗", "city": "南京"}
    plain = api.post("/v1/ask", json=body).json()
    r = api.post("/v1/ask/stream", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-accel-buffering"] == "no"
    assert all(b < 128 for b in r.content)
    frames = parse_sse(r.content)
    assert frames[-1] == "[DONE]"
    meta = frames[0]
    assert isinstance(meta, dict) and meta["type"] == "meta"
    assert meta["citations"] == plain["citations"] and meta["offices"] == plain["offices"]
    text = "".join(f["text"] for f in frames if isinstance(f, dict) and f["type"] == "delta")
    assert text == plain["answer"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 422, "invalid_request"),
        (b"{bad json", 400, "invalid_json"),
        (b"\xff\xfe\xfd", 400, "invalid_json"),
        (b'{"question": 5}', 422, "invalid_request"),
        (b'{"question": null}', 422, "invalid_request"),
        (b'{"question": ""}', 422, "empty_question"),
        (b'{"question": "   "}', 422, "empty_question"),
        ('{"question": "' + "长" * 600 + '"}', 413, "question_too_long"),
        (b'{"question": "x", "city": "Paris"}', 422, "unknown_city"),
        (b'{"question": "x", "session_id": "../../etc/passwd"}', 422, "invalid_request"),
        (b"[]", 422, "invalid_request"),
    ],
)
def test_bad_payloads_get_json_errors(api: TestClient, body: bytes | str, status: int, code: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = api.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text
        assert r.json()["code"] == code and r.json()["message"]


def test_oversized_body_is_refused_before_parsing(api: TestClient) -> None:
    r = api.post(
        "/v1/ask", content=b'{"question": "' + b"a" * 100_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_unknown_route_and_method(api: TestClient) -> None:
    assert api.get("/v1/nothing").json()["code"] == "not_found"
    r = api.put("/v1/ask")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_browse_endpoints(api: TestClient) -> None:
    docs = api.get("/v1/documents").json()
    assert docs[0]["issuer"] == "江苏省人力资源和社会保障厅" and docs[0]["measures"] == 20
    sections = api.get("/v1/measures").json()
    assert len(sections) == 10 and sum(len(s["measures"]) for s in sections) == 20
    m = api.get(f"/v1/measures/{docs[0]['doc']}/7").json()
    assert m["label"] == "（七）" and m["units"][0] == "就业处"
    assert api.get(f"/v1/measures/{docs[0]['doc']}/99").status_code == 404
    offices = {o["name"]: o for o in api.get("/v1/offices").json()}
    assert offices["政务办"]["full_name"] == "江苏省政务服务管理办公室"
    assert offices["就业处"]["full_name"] is None and offices["就业处"]["full_name_unconfirmed"] == "就业促进处"
    cities = api.get("/v1/cities").json()
    assert len(cities) == 13 and cities[4] == {"name": "苏州", "bureau": "苏州市人力资源和社会保障局"}


def test_health_and_readiness(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    r = api.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True


def test_not_ready_is_503_with_a_reason(tmp_path: Path) -> None:
    from .conftest import make_settings

    settings = make_settings(tmp_path, [])  # no sources: the index cannot be built
    app = create_app(settings, ChatService(settings))
    with TestClient(app) as c:
        for _ in range(100):
            r = c.get("/readyz")
            if r.json().get("detail") != "index loading":
                break
            time.sleep(0.05)
        assert r.status_code == 503 and r.json()["code"] == "not_ready"
        assert "IndexMissing" in r.json()["detail"]
        assert c.post("/v1/ask", json={"question": "稳岗返还"}).status_code == 503
        assert c.get("/healthz").status_code == 200


def test_feedback_is_stored_masked_and_survives_a_restart(full_settings: Settings, bot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "fb.sqlite3"
    with _client(full_settings, bot, db_path=db) as c:
        a = c.post("/v1/ask", json={"question": "稳岗返还找谁？我的手机13912345678，身份证320102199001011234"}).json()
        r = c.post(
            "/v1/feedback", json={"message_id": a["message_id"], "helpful": False, "comment": "卡号6222020200112233445"}
        )
        assert r.status_code == 201 and r.json()["ok"] is True
        assert c.post("/v1/feedback", json={"message_id": "unknown", "helpful": True}).status_code == 404
        assert c.post("/v1/feedback", json={"message_id": a["message_id"], "helpful": "maybe"}).status_code == 422
    with _client(full_settings, bot, db_path=db) as c2:  # a new app over the same file
        assert c2.get("/healthz").status_code == 200
    conn = sqlite3.connect(db)
    question, answer = conn.execute(
        "SELECT question, answer FROM messages WHERE message_id=?", (a["message_id"],)
    ).fetchone()
    helpful, comment = conn.execute(
        "SELECT helpful, comment FROM feedback WHERE message_id=?", (a["message_id"],)
    ).fetchone()
    conn.close()
    assert "13912345678" not in question and "139****5678" in question
    assert "320102199001011234" not in question and "3201**********1234" in question
    assert (helpful, comment) == (0, "卡号6222***********3445")
    assert "稳岗返还" in question and answer


def test_rate_limit_is_429_with_retry_after(full_settings: Settings, bot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with _client(full_settings, bot, db_path=tmp_path / "rl.sqlite3", rate_limit_client="3/minute") as c:
        codes = [c.post("/v1/ask", json={"question": "苏畅卡"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post("/v1/ask", json={"question": "苏畅卡"})
        assert r.json()["code"] == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 61
    with _client(full_settings, bot, db_path=tmp_path / "rl2.sqlite3", rate_limit_session="2/minute") as c:
        sid = c.post("/v1/ask", json={"question": "苏畅卡"}).json()["session_id"]
        follow = [c.post("/v1/ask", json={"question": "热线打几号？", "session_id": sid}) for _ in range(3)]
        assert [r.status_code for r in follow] == [200, 200, 429]


def test_admin_is_disabled_without_a_token(api: TestClient) -> None:
    assert api.post("/v1/admin/reindex").status_code == 404
    assert api.get("/v1/admin/status").json()["code"] == "admin_disabled"


def test_admin_reindex_while_answering(mini_settings: Settings, embeddings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bot.answer import PolicyBot

    settings = mini_settings.model_copy(
        update={
            "admin_token": SecretStr("s3cret-token"),
            "db_path": tmp_path / "a.sqlite3",
            "rate_limit_client": "100000/minute",
            "rate_limit_new_sessions": "100000/minute",  # every question here starts a conversation
        }
    )
    bot = PolicyBot.from_settings(settings, embeddings)
    with TestClient(create_app(settings, ChatService(settings, bot=bot))) as c:
        assert c.post("/v1/admin/reindex").status_code == 401
        assert c.post("/v1/admin/reindex", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        before = c.get("/v1/admin/status", headers=auth).json()
        statuses: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                statuses.append(c.post("/v1/ask", json={"question": "焊工培训每年多少人次"}).status_code)

        t = threading.Thread(target=keep_asking)
        t.start()
        r = c.post("/v1/admin/reindex", headers=auth)
        assert r.status_code == 202 and r.json()["started"] is True
        for _ in range(600):
            status = c.get("/v1/admin/status", headers=auth).json()
            if status["reindex"] != "running":
                break
            time.sleep(0.05)
        stop.set()
        t.join()
        assert status["reindex"] == "idle" and status["version"] != before["version"]
        assert statuses and set(statuses) == {200}
        assert "200人次" in c.post("/v1/ask", json={"question": "焊工培训每年多少人次"}).json()["answer"]


# --- hardening: every client mistake is a JSON 4xx with the security headers ---------------------------
def test_lone_surrogates_are_cleaned_at_the_edge(api: TestClient) -> None:
    raw = b'{"question": "\\ud800\\u7a33\\u5c97\\u8fd4\\u8fd8\\udfff", "city": "\\ud83d\\u82cf\\u5dde"}'
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = api.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
    a = api.post("/v1/ask", content=raw, headers={"content-type": "application/json"}).json()
    assert a["in_scope"] is True and a["citations"]
    comment = b'{"message_id": "%s", "helpful": true, "comment": "\\udc00ok"}' % a["message_id"].encode()
    r = api.post("/v1/feedback", content=comment, headers={"content-type": "application/json"})
    assert r.status_code == 201


def test_refusals_outside_the_app_carry_security_headers(full_settings: Settings, bot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with _client(full_settings, bot, db_path=tmp_path / "h.sqlite3", cors_origins=["https://ok.example.cn"]) as c:
        big = c.post("/v1/ask", content=b"x" * 20_000, headers={"content-type": "application/json"})
        ok = c.options(
            "/v1/ask",
            headers={"Origin": "https://ok.example.cn", "Access-Control-Request-Method": "POST"},
        )
        refused = c.options(
            "/v1/ask",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
        missing = c.get("/no/such/page")
    assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ok.example.cn"
    assert refused.status_code == 400 and refused.json()["code"] == "cors_refused"
    for r in (big, ok, refused, missing):
        assert r.headers["x-content-type-options"] == "nosniff", r
        assert r.headers["x-frame-options"] == "SAMEORIGIN"
        assert "default-src 'self'" in r.headers["content-security-policy"]


def test_docs_work_offline(api: TestClient) -> None:
    import re

    r = api.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text) + re.findall(r"url: '([^']+)'", r.text)
    assert len(refs) >= 4, refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref  # same origin, no CDN
        asset = api.get(ref)
        assert asset.status_code == 200, ref
    assert (
        api.get("/docs/assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
    assert api.get("/redoc").status_code == 404  # redoc would load from a CDN


def test_openapi_documents_answers_errors_limits_and_auth(api: TestClient, full_settings: Settings) -> None:
    schema = api.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for model in ("Answer", "Citation", "OfficeRef"):
        undocumented = [k for k, v in components[model]["properties"].items() if not v.get("description")]
        assert not undocumented, (model, undocumented)
    assert components["AskRequest"]["properties"]["question"]["maxLength"] == full_settings.max_question_chars
    assert schema["components"]["securitySchemes"]["AdminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer $POLICYBOT_ADMIN_TOKEN",
    }
    paths = schema["paths"]
    assert paths["/v1/admin/reindex"]["post"]["security"] == [{"AdminToken": []}]
    ask = paths["/v1/ask"]["post"]["responses"]
    assert {"400", "413", "422", "429", "503"} <= set(ask)
    assert "question_too_long" in ask["413"]["description"] and "unknown_city" in ask["422"]["description"]
    feedback = paths["/v1/feedback"]["post"]["responses"]
    assert "storage_unavailable" in feedback["503"]["description"]
    assert "feedback_limit_reached" in feedback["429"]["description"]
    stream = paths["/v1/ask/stream"]["post"]["description"]
    order = [stream.index(f"`{frame}`") for frame in ("meta", "delta", "end")] + [stream.index("[DONE]")]
    assert order == sorted(order)


def test_feedback_is_limited_per_message_and_per_client(full_settings: Settings, bot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with _client(
        full_settings, bot, db_path=tmp_path / "fl.sqlite3", feedback_max_per_message=2, rate_limit_feedback="5/minute"
    ) as c:
        ids = [c.post("/v1/ask", json={"question": q}).json()["message_id"] for q in ("苏畅卡", "稳岗返还", "骑手工伤")]
        codes = [c.post("/v1/feedback", json={"message_id": ids[0], "helpful": True}).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        r = c.post("/v1/feedback", json={"message_id": ids[0], "helpful": True})
        assert r.json()["code"] == "feedback_limit_reached" and r.headers["retry-after"]
        more = [c.post("/v1/feedback", json={"message_id": ids[1 + k % 2], "helpful": True}) for k in range(3)]
        assert [m.status_code for m in more] == [201, 429, 429]  # 5 posts a minute from this client
        assert more[-1].json()["code"] == "rate_limited"


def _stalled_request(
    app, path: str
) -> tuple[asyncio.Task[None], asyncio.Event, asyncio.Event, list[dict[str, object]]]:  # type: ignore[no-untyped-def]
    """Drive the real ASGI stack with a body that sends its first byte and then stalls until ``resume``."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }
    resume, answered = asyncio.Event(), asyncio.Event()
    sent: list[dict[str, object]] = []
    parts = iter([{"type": "http.request", "body": b"{", "more_body": True}])

    async def receive() -> dict[str, object]:
        first = next(parts, None)
        if first is not None:
            return first
        await resume.wait()
        return {"type": "http.request", "body": b"}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            answered.set()

    return asyncio.ensure_future(app(scope, receive, send)), resume, answered, sent


def test_document_uploads_have_their_own_body_limit_and_deadline(full_settings: Settings, bot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ops: bodies are buffered, 413 over the limit and 408 past the deadline from the outermost layer; kb:
    /v1/admin/documents takes uploads far above ``max_body_bytes``, with a deadline of their own."""
    settings = full_settings.model_copy(
        update={
            "db_path": tmp_path / "up.sqlite3",
            "max_upload_bytes": 100_000,
            "body_timeout_seconds": 0.2,
            "upload_timeout_seconds": 300.0,
        }
    )
    app = create_app(settings, ChatService(settings, bot=bot))
    with TestClient(app) as c:
        upload = c.post("/v1/admin/documents", files={"file": ("a.txt", b"x" * 50_000)})
        ask = c.post("/v1/ask", content=b"x" * 50_000, headers={"content-type": "application/json"})
        huge = c.post("/v1/admin/documents", files={"file": ("a.txt", b"x" * 200_000)})
    assert upload.status_code == 404 and upload.json()["code"] == "admin_disabled"  # past the body limit
    assert ask.status_code == 413 and ask.json()["code"] == "payload_too_large"
    assert huge.status_code == 413 and huge.json()["code"] == "payload_too_large"
    assert huge.headers["x-content-type-options"] == "nosniff"

    async def race() -> tuple[list[dict[str, object]], list[dict[str, object]], bool]:
        ask_task, _, ask_answered, ask_sent = _stalled_request(app, "/v1/ask")
        up_task, up_resume, up_answered, up_sent = _stalled_request(app, "/v1/admin/documents")
        await asyncio.wait_for(ask_answered.wait(), 30)  # the ask's 0.2 s deadline passes first
        upload_waited = not up_answered.is_set()
        up_resume.set()
        await asyncio.wait_for(asyncio.gather(ask_task, up_task), 30)
        return ask_sent, up_sent, upload_waited

    ask_sent, up_sent, upload_waited = asyncio.run(race())
    assert ask_sent[0]["status"] == 408
    assert json.loads(ask_sent[1]["body"])["code"] == "request_timeout"  # type: ignore[arg-type]
    assert upload_waited, "the upload was cut off by the ordinary body deadline"
    assert up_sent[0]["status"] == 404  # the whole body arrived and reached the app
