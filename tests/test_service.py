"""The service's rebuild policy: a readiness probe never starts a rebuild; the file watcher does, once per
change; a malformed new notice or example line is skipped and reported; a notice that was indexed and
breaks fails the build, the last good index keeps serving and the watcher backs off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.api import create_app
from bot.config import Settings
from bot.service import ChatService

from .waiting import wait_until

AUTH = {"Authorization": "Bearer svc-token"}
EXAMPLES = '{"question": "焊工培训补贴", "measures": ["mini-notice#1"]}\n{"question": "养老金多少", "measures": []}\n'


def _status(c: TestClient) -> dict[str, Any]:
    status: dict[str, Any] = c.get("/v1/admin/status", headers=AUTH).json()
    return status


def test_rebuilds_follow_files_not_probes(mini_settings: Settings, embeddings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bot.answer import PolicyBot

    (mini_settings.index_dir / "examples.jsonl").write_text(EXAMPLES, encoding="utf-8")  # a small bank: fast builds
    settings = mini_settings.model_copy(
        update={
            "db_path": tmp_path / "svc.sqlite3",
            "index_watch_seconds": 0.1,
            "reindex_backoff_seconds": 600.0,
            "admin_token": SecretStr("svc-token"),
            "rate_limit_client": "100000/minute",
        }
    )
    bot = PolicyBot.from_settings(settings, embeddings)
    service = ChatService(settings, bot=bot)
    with TestClient(create_app(settings, service)) as c:
        first = _status(c)
        assert first["attempts"] == 0 and first["reindex"] == "idle"
        for _ in range(20):
            assert c.get("/readyz").status_code == 200
        assert _status(c)["attempts"] == 0  # probing started nothing

        # a malformed new notice and a broken example line: one rebuild, both skipped and reported
        (settings.sources_path / "broken.txt").write_text("不是通知\n只有两行\n", encoding="utf-8")
        with open(settings.index_dir / "examples.jsonl", "a", encoding="utf-8") as fh:
            fh.write("{not json\n")
        done = wait_until(
            lambda: (s := _status(c))["reindex"] == "idle" and len(s["problems"]) == 2 and s,
            timeout=300,
            what="rebuild",
        )
        builds = done["attempts"]
        assert builds in (1, 2)  # one per change the watcher saw (the two files may land in one tick or two)
        assert any("broken.txt" in p for p in done["problems"]), done
        assert any("examples.jsonl:3" in p for p in done["problems"]), done
        for _ in range(20):
            r = c.get("/readyz")
            assert r.status_code == 200 and "skipped" in r.json()["detail"]
        for _ in range(5):
            service.watch_index()  # the skipped file is remembered: no rebuild loop
        assert _status(c)["attempts"] == builds

        # a notice that was indexed breaks: the build fails and the last good index keeps serving
        mini = settings.sources_path / "mini-notice.txt"
        mini.write_text(
            mini.read_text(encoding="utf-8") + "(一)倒序的措施。(责任单位:就业处)\n",
            encoding="utf-8",
        )
        failed = wait_until(lambda: (s := _status(c))["reindex"] == "failed" and s, timeout=300, what="failure")
        assert "MalformedNotice" in failed["last_error"] and "mini-notice.txt" in failed["last_error"]
        assert failed["next_attempt_in_seconds"] > 500
        for _ in range(20):
            r = c.get("/readyz")
            assert r.status_code == 200 and "rebuild failed" in r.json()["detail"]
        for _ in range(5):
            service.watch_index()
        assert _status(c)["attempts"] == builds + 1  # backing off, not retrying per probe or per tick
        a = c.post("/v1/ask", json={"question": "焊工培训每年多少人次"}).json()
        assert "200人次" in a["answer"]  # still the last good index

        # the operator fixes the file and asks for a rebuild: the admin endpoint ignores the backoff
        mini.write_text(mini.read_text(encoding="utf-8").replace("(一)倒序的措施。(责任单位:就业处)\n", ""), "utf-8")
        assert c.post("/v1/admin/reindex", headers=AUTH).json()["started"] is True
        fixed = wait_until(lambda: (s := _status(c))["reindex"] == "idle" and s, timeout=300, what="fixed")
        assert fixed["attempts"] == builds + 2 and fixed["failures"] == 0 and fixed["trigger"] == "admin"


def test_a_generation_built_elsewhere_is_loaded_not_rebuilt(
    mini_settings: Settings, embeddings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """kb: a generation another process swapped in (policybot docs/build-index) is served after a probe;
    ops: that is no rebuild of this process, and one that cannot be loaded is not tried again and again."""
    from bot.answer import PolicyBot
    from bot.index import build_index, current_generation

    (mini_settings.index_dir / "examples.jsonl").write_text(EXAMPLES, encoding="utf-8")
    settings = mini_settings.model_copy(
        update={
            "db_path": tmp_path / "svc.sqlite3",
            "index_watch_seconds": 0.0,  # no watcher: the probe alone notices
            "admin_token": SecretStr("svc-token"),
        }
    )
    bot = PolicyBot.from_settings(settings, embeddings)
    service = ChatService(settings, bot=bot)
    with TestClient(create_app(settings, service)) as c:
        served = _status(c)["version"]
        elsewhere = build_index(settings, embeddings)  # what another process's build leaves on disk
        assert elsewhere.name != served
        assert c.get("/readyz").status_code == 200
        done = wait_until(
            lambda: (s := _status(c))["version"] == elsewhere.name and s["reindex"] == "idle" and s,
            timeout=120,
            what="the reload",
        )
        assert done["attempts"] == 0 and done["trigger"] is None  # loaded, not rebuilt

        # a generation whose manifest is sound but whose files are not: one failed load, then left alone
        broken = build_index(settings, embeddings)
        (broken / "chunks.jsonl").write_text("{not json", encoding="utf-8")
        c.get("/readyz")
        failed = wait_until(lambda: (s := _status(c))["reindex"] == "failed" and s, timeout=120, what="failure")
        assert "IndexCorrupt" in failed["last_error"] and failed["version"] == elsewhere.name
        for _ in range(5):
            r = c.get("/readyz")
            assert r.status_code == 200 and "loading a generation built elsewhere failed (1x)" in r.json()["detail"]
            service.watch_index()
        assert _status(c)["failures"] == 1 and current_generation(settings.build_path) == broken
        assert "200人次" in c.post("/v1/ask", json={"question": "焊工培训每年多少人次"}).json()["answer"]
