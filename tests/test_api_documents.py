"""``/v1/admin/documents`` over HTTP: TestClient against the real service, and one real uvicorn process that
keeps answering while an upload builds and swaps in a new generation."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.api import create_app
from bot.config import Settings
from bot.embeddings import VectorEmbeddings
from bot.index import build_index

from .conftest import DATA, MINI, make_settings
from .server import uvicorn_server
from .test_catalog import docx_of

NOTICES = DATA / "notices"
TOKEN = "docs-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin_settings(tmp_path: Path, embeddings: VectorEmbeddings) -> Settings:
    settings = make_settings(
        tmp_path,
        [MINI],
        admin_token=SecretStr(TOKEN),
        rate_limit_client="100000/minute",
        rate_limit_session="100000/minute",
        rate_limit_new_sessions="100000/minute",
        max_upload_bytes=200_000,
    )
    build_index(settings, embeddings)
    return settings


@pytest.fixture
def client(admin_settings: Settings, embeddings: VectorEmbeddings) -> Iterator[TestClient]:
    from bot.answer import PolicyBot
    from bot.service import ChatService

    service = ChatService(admin_settings, bot=PolicyBot.from_settings(admin_settings, embeddings))
    with TestClient(create_app(admin_settings, service)) as c:
        yield c


def _upload(c: TestClient, name: str, data: bytes, **form: str) -> httpx.Response:
    return c.post("/v1/admin/documents", headers=AUTH, files={"file": (name, data)}, data=form)


def _version(c: TestClient) -> str:
    return str(c.get("/v1/admin/status", headers=AUTH).json()["version"])


def test_admin_token_guards_the_documents(client: TestClient, tmp_path: Path, embeddings: VectorEmbeddings) -> None:
    assert client.get("/v1/admin/documents").status_code == 401
    assert client.get("/v1/admin/documents", headers={"Authorization": "Bearer wrong"}).json()["code"] == "unauthorized"
    assert client.delete("/v1/admin/documents/mini-notice").status_code == 401
    open_settings = make_settings(tmp_path / "open", [MINI])
    build_index(open_settings, embeddings)
    with TestClient(create_app(open_settings)) as c:
        r = c.get("/v1/admin/documents", headers=AUTH)
        assert r.status_code == 404 and r.json()["code"] == "admin_disabled"


def test_upload_list_replace_retire_remove(client: TestClient) -> None:
    listed = client.get("/v1/admin/documents", headers=AUTH).json()
    assert [d["doc"] for d in listed] == ["mini-notice"]
    assert listed[0]["status"] == "current" and listed[0]["clauses"] == 3

    v0 = _version(client)
    r = _upload(
        client, "苏人社规〔2024〕5号.docx", docx_of(NOTICES / "suzhou-flexible-employment-2024.txt"), doc="suzhou"
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["doc"], doc["doc_number"], doc["region"], doc["clauses"]) == (
        "suzhou",
        "苏人社规〔2024〕5号",
        "苏州市",
        21,
    )
    assert (doc["effective_from"], doc["expires"], doc["original_name"]) == (
        "2024-06-01",
        "2029-05-31",
        "苏人社规〔2024〕5号.docx",
    )
    v1 = _version(client)
    assert v1 != v0
    served = {d["doc"]: d for d in client.get("/v1/documents").json()}
    assert served["suzhou"]["issuers"] == ["苏州市人力资源和社会保障局"] and served["suzhou"]["status"] == "current"
    measure = client.get("/v1/measures/suzhou/1").json()
    assert measure["label"] == "1." and measure["units"] == ["市就业服务中心", "各区人社局"]

    again = _upload(client, "x.txt", (NOTICES / "suzhou-flexible-employment-2024.txt").read_bytes(), doc="suzhou")
    assert again.status_code == 409 and again.json()["code"] == "document_exists"
    replaced = _upload(
        client, "x.txt", (NOTICES / "suzhou-flexible-employment-2024.txt").read_bytes(), doc="suzhou", replace="true"
    )
    assert replaced.status_code == 201 and replaced.json()["updated"]

    retired = client.post("/v1/admin/documents/suzhou/retire", headers=AUTH)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    served = {d["doc"]: d for d in client.get("/v1/documents").json()}
    assert served["suzhou"]["status"] == "retired"

    gone = client.delete("/v1/admin/documents/suzhou", headers=AUTH)
    assert gone.status_code == 200 and gone.json() == {"doc": "suzhou", "removed": True}
    assert [d["doc"] for d in client.get("/v1/documents").json()] == ["mini-notice"]
    assert client.delete("/v1/admin/documents/suzhou", headers=AUTH).status_code == 404
    assert client.post("/v1/admin/documents/nope/retire", headers=AUTH).json()["code"] == "unknown_document"


def test_a_bad_upload_is_422_naming_the_line_and_changes_nothing(client: TestClient, admin_settings: Settings) -> None:
    before = (_version(client), sorted(p.name for p in admin_settings.sources_path.iterdir()))
    bad = MINI.read_text(encoding="utf-8").replace("(三)为退役", "(二)为退役").encode()
    r = _upload(client, "bad.txt", bad)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "malformed_notice" and body["line"] == 13
    assert "bad.txt 第 13 行" in body["message"] and "expected （三）" in body["message"]

    scan = _scanned_pdf()
    r = _upload(client, "scan.pdf", scan)
    assert r.status_code == 422 and r.json()["code"] == "no_text_layer" and "没有文字层" in r.json()["message"]
    r = _upload(client, "old.doc", b"\xd0\xcf\x11\xe0 binary word")
    assert r.status_code == 415 and r.json()["code"] == "unsupported_format"
    r = _upload(client, "big.txt", b"x" * 250_000)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert (_version(client), sorted(p.name for p in admin_settings.sources_path.iterdir())) == before
    assert client.post("/v1/ask", json={"question": "焊工培训每年多少人次"}).status_code == 200


def _scanned_pdf() -> bytes:
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawImage(ImageReader(Image.new("L", (200, 100), color=200)), 50, 500, width=200, height=100)
    c.showPage()
    c.save()
    return buf.getvalue()


def test_answers_keep_flowing_while_an_upload_swaps_the_index(admin_settings: Settings, tmp_path: Path) -> None:
    env = {
        "POLICYBOT_INDEX_DIR": str(admin_settings.index_dir),
        "POLICYBOT_VECTOR_CACHE_DIR": str(admin_settings.vector_cache_path),
        "POLICYBOT_DB_PATH": str(tmp_path / "server.sqlite3"),
        "POLICYBOT_ADMIN_TOKEN": TOKEN,
        "POLICYBOT_RATE_LIMIT_CLIENT": "100000/minute",
        "POLICYBOT_RATE_LIMIT_SESSION": "100000/minute",
        "POLICYBOT_RATE_LIMIT_NEW_SESSIONS": "100000/minute",  # every question here starts a conversation
    }
    with uvicorn_server(env, tmp_path / "server.log") as server:
        statuses: list[int] = []
        finished_at: list[float] = []
        stop = threading.Event()
        asking = threading.Event()

        def keep_asking() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                while not stop.is_set():
                    statuses.append(c.post("/v1/ask", json={"question": "焊工培训每年多少人次"}).status_code)
                    finished_at.append(time.monotonic())
                    asking.set()

        asker = threading.Thread(target=keep_asking)
        asker.start()
        assert asking.wait(60)
        with httpx.Client(base_url=server.url, timeout=600) as admin:
            v0 = admin.get("/v1/admin/status", headers=AUTH).json()["version"]
            started = time.monotonic()
            source = NOTICES / "js-ten-dept-youth-employment-2023.txt"
            r = admin.post("/v1/admin/documents", headers=AUTH, files={"file": (source.name, source.read_bytes())})
            ended = time.monotonic()
            stop.set()
            asker.join(timeout=120)
            assert r.status_code == 201, r.text
            assert admin.get("/v1/admin/status", headers=AUTH).json()["version"] != v0
            docs = [d["doc"] for d in admin.get("/v1/documents").json()]
            assert docs == ["js-ten-dept-youth-employment-2023", "mini-notice"]
        during = [t for t in finished_at if started < t < ended]
        assert set(statuses) == {200}
        assert during, "no answer completed while the upload was building"
