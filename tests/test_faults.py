"""Fault injection: crashes, killed rebuilds, broken index files, unwritable storage."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.api import create_app
from bot.config import Settings
from bot.index import current_generation, load_index, staleness
from bot.service import ChatService

from .server import uvicorn_server


def test_kill_9_loses_no_acknowledged_feedback(full_settings: Settings, full_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "crash.sqlite3"
    env = {
        "POLICYBOT_INDEX_DIR": str(full_settings.index_dir),
        "POLICYBOT_DB_PATH": str(db),
        "POLICYBOT_RATE_LIMIT_CLIENT": "100000/minute",
        # this is about durability, not the feedback limits (3 per answer, 20/minute per client by default)
        "POLICYBOT_RATE_LIMIT_FEEDBACK": "100000/minute",
        "POLICYBOT_FEEDBACK_MAX_PER_MESSAGE": "100",
    }
    acknowledged: list[int] = []
    with uvicorn_server(env, tmp_path / "s1.log") as server:
        ids = [
            httpx.post(f"{server.url}/v1/ask", json={"question": q}, timeout=30).json()["message_id"]
            for q in ("稳岗返还", "苏畅卡", "骑手工伤")
        ]
        stop = threading.Event()

        def post_feedback() -> None:
            with httpx.Client(timeout=5) as c:
                k = 0
                while not stop.is_set():
                    try:
                        r = c.post(f"{server.url}/v1/feedback", json={"message_id": ids[k % 3], "helpful": k % 2 == 0})
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        acknowledged.append(r.json()["id"])
                    k += 1

        writer = threading.Thread(target=post_feedback)
        writer.start()
        time.sleep(1.5)
        server.kill()  # SIGKILL mid-stream of writes
        stop.set()
        writer.join(timeout=10)
    assert len(acknowledged) > 10
    conn = sqlite3.connect(db)
    stored = {row[0] for row in conn.execute("SELECT id FROM feedback")}
    messages = {row[0] for row in conn.execute("SELECT message_id FROM messages")}
    conn.close()
    assert set(acknowledged) <= stored and set(ids) <= messages
    with uvicorn_server(env, tmp_path / "s2.log") as again:  # the next start is healthy on the same file
        assert httpx.get(f"{again.url}/readyz", timeout=5).status_code == 200
        # a new answer: the writer may have filled the old ones up to the per-answer feedback cap
        fresh = httpx.post(f"{again.url}/v1/ask", json={"question": "稳岗返还"}, timeout=30).json()["message_id"]
        assert httpx.post(f"{again.url}/v1/feedback", json={"message_id": fresh, "helpful": True}).status_code == 201


def test_a_killed_rebuild_leaves_the_old_index_serving(mini_settings: Settings, embeddings) -> None:  # type: ignore[no-untyped-def]
    from bot.index import build_index

    good = build_index(mini_settings, embeddings)
    # make the rebuild slow enough to catch half-way: many chunks to embed
    extra = mini_settings.sources_path / "big.txt"
    extra.write_text(
        (Path(__file__).parents[1] / "index" / "sources" / "jiangsu-hrss-digital-economy-measures-2022.txt").read_text(
            encoding="utf-8"
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "POLICYBOT_INDEX_DIR": str(mini_settings.index_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "build-index"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if [p for p in mini_settings.build_path.glob("gen-*") if p != good]:
            break
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert current_generation(mini_settings.build_path) == good
    ki = load_index(mini_settings, embeddings)  # the old index still loads and serves
    assert ki.manifest.n_measures == 3
    assert staleness(mini_settings) == "sources changed"  # and the next start knows it must rebuild
    rebuilt = build_index(mini_settings, embeddings)
    assert [p.name for p in mini_settings.build_path.glob("gen-*")] == [rebuilt.name]


def test_unwritable_storage_fails_feedback_cleanly_and_answering_goes_on(full_settings: Settings, bot) -> None:  # type: ignore[no-untyped-def]
    # /proc cannot hold a database: the same failure as a read-only or full disk, even for root
    s = full_settings.model_copy(update={"db_path": Path("/proc/policybot-test/db.sqlite3")})
    with TestClient(create_app(s, ChatService(s, bot=bot))) as c:
        a = c.post("/v1/ask", json={"question": "稳岗返还"})
        assert a.status_code == 200 and a.json()["in_scope"] is True
        r = c.post("/v1/feedback", json={"message_id": a.json()["message_id"], "helpful": True})
        assert r.status_code == 503 and r.json()["code"] == "storage_unavailable"
        assert c.get("/healthz").status_code == 200


def test_corrupt_database_file_is_a_clean_503(full_settings: Settings, bot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "corrupt.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    s = full_settings.model_copy(update={"db_path": db})
    with TestClient(create_app(s, ChatService(s, bot=bot))) as c:
        a = c.post("/v1/ask", json={"question": "苏畅卡"})
        assert a.status_code == 200
        r = c.post("/v1/feedback", json={"message_id": a.json()["message_id"], "helpful": True})
        assert r.status_code == 503 and set(r.json()) >= {"code", "message"}


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_broken_index_on_disk_is_rebuilt_at_start(mini_settings: Settings, embeddings, damage: str) -> None:  # type: ignore[no-untyped-def]
    from bot.index import build_index, ensure_index

    gen = build_index(mini_settings, embeddings)
    target = gen / "chunks.jsonl"
    if damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json", encoding="utf-8")
    ki = ensure_index(mini_settings, embeddings)
    assert ki.manifest.n_measures == 3 and ki.path != gen


def test_readyz_reports_a_damaged_index_on_disk_and_the_watcher_heals_it(
    mini_settings: Settings, embeddings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import bot.service as service_module
    from bot.answer import PolicyBot

    settings = mini_settings.model_copy(update={"db_path": tmp_path / "r.sqlite3", "index_watch_seconds": 0.2})
    bot = PolicyBot.from_settings(settings, embeddings)
    service = ChatService(settings, bot=bot)
    with TestClient(create_app(settings, service)) as c:
        assert c.get("/readyz").status_code == 200
        damaged = current_generation(settings.build_path)
        assert damaged is not None
        (damaged / "manifest.json").unlink()
        service._disk_checked_at = float("-inf")  # skip the probe's 5 s throttle
        r = c.get("/readyz")
        assert r.status_code == 503 and "corrupt" in r.json()["detail"] and r.headers["retry-after"] == "5"
        assert c.post("/v1/ask", json={"question": "焊工培训"}).status_code == 200  # answers go on from memory
        for _ in range(600):
            time.sleep(0.05)
            service._disk_checked_at = float("-inf")
            r = c.get("/readyz")
            if r.status_code == 200:
                break
        assert r.status_code == 200, r.json()
        assert current_generation(settings.build_path) != damaged
        assert service_module.staleness(settings) is None
