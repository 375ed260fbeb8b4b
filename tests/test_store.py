"""The store checks itself: a real SQLite file deleted, truncated or corrupted under a running server makes
/readyz 503 and feedback 503 (never a false 201); a restored file is taken back. Retention and limits."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.errors import NotFound
from bot.store import FeedbackLimitReached, FeedbackStore, StorageUnavailable

from .server import Server, uvicorn_server
from .waiting import wait_until


def _ask(server: Server, question: str = "苏畅卡是什么") -> str:
    r = httpx.post(f"{server.url}/v1/ask", json={"question": question}, timeout=30)
    assert r.status_code == 200
    return str(r.json()["message_id"])


def _feedback(server: Server, message_id: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/feedback", json={"message_id": message_id, "helpful": True}, timeout=30)


def _readyz(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/readyz", timeout=30)


def _backup(db: Path, backup: Path) -> None:
    """A consistent copy in one self-contained file (what ``sqlite3 live.sqlite3 .backup`` gives an operator):
    the copy inherits WAL mode from the source, so it is switched back to a rollback journal and closed before
    it is used, else pages could still sit in the copy's own -wal file when it is put in place."""
    source = sqlite3.connect(db)
    dest = sqlite3.connect(backup)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
        source.close()
    assert not Path(f"{backup}-wal").exists()


def _restore(backup: Path, db: Path) -> None:
    """What an operator does: put a sound copy in place (a new file, so a new inode)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    tmp = db.with_suffix(".restoring")
    shutil.copy(backup, tmp)
    os.replace(tmp, db)


def _damage(kind: str, db: Path) -> None:
    if kind == "delete":
        db.unlink()
    elif kind == "truncate":
        with open(db, "r+b") as fh:
            fh.truncate(0)
    else:  # overwrite every page after the first with garbage, header intact
        # first the pages still in the WAL go into the file (as the server's own checkpoints do): garbage under
        # a page the WAL holds a newer copy of is never read, so it would damage nothing
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        size = db.stat().st_size
        with open(db, "r+b") as fh:
            fh.seek(4096)
            fh.write(os.urandom(max(size - 4096, 4096)))
            fh.flush()
            os.fsync(fh.fileno())


def test_damage_under_a_running_server_is_noticed(full_settings: Settings, full_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "live.sqlite3"
    backup = tmp_path / "backup.sqlite3"
    env = {
        "POLICYBOT_INDEX_DIR": str(full_settings.index_dir),
        "POLICYBOT_DB_PATH": str(db),
        "POLICYBOT_STORAGE_CHECK_SECONDS": "0.2",
        "POLICYBOT_RATE_LIMIT_CLIENT": "100000/minute",
        "POLICYBOT_RATE_LIMIT_FEEDBACK": "100000/minute",
    }
    with uvicorn_server(env, tmp_path / "server.log") as server:
        for kind in ("delete", "truncate", "corrupt"):
            message_id = _ask(server)
            assert _feedback(server, message_id).status_code == 201
            _backup(db, backup)
            assert _readyz(server).status_code == 200
            _damage(kind, db)
            r = wait_until(lambda: (p := _readyz(server)).status_code == 503 and p, what=f"readyz after {kind}")
            assert "storage broken" in r.json()["detail"], r.json()
            after = [_feedback(server, message_id) for _ in range(5)]
            assert {a.status_code for a in after} == {503}, kind  # never a 201 that is not on disk
            assert after[0].json()["code"] == "storage_unavailable" and after[0].headers["retry-after"]
            assert httpx.post(f"{server.url}/v1/ask", json={"question": "稳岗返还"}, timeout=30).status_code == 200
            _restore(backup, db)
            wait_until(lambda: _readyz(server).status_code == 200, what=f"recovery after {kind}")
            assert _feedback(server, message_id).status_code == 201  # the restored file has the message
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in log


def test_a_copy_written_over_the_damaged_file_in_place_is_taken_back(tmp_path: Path) -> None:
    """``cp backup live.sqlite3`` keeps the inode: recovery cannot be told by a new inode alone (nor after a
    delete, whose inode number the restored copy may get again)."""
    db, backup = tmp_path / "live.sqlite3", tmp_path / "backup.sqlite3"
    store = FeedbackStore(db, check_seconds=0.0)
    store.log_message("m1", "s1", "问题", "回答", True, None)
    _backup(db, backup)
    conn = sqlite3.connect(db)  # the pages into the main file, so the damage hits them
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    inode = db.stat().st_ino
    _damage("corrupt", db)
    assert not store.health().ok
    with pytest.raises(StorageUnavailable):
        store.add_feedback("m1", True, None)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, db)  # in place
    assert db.stat().st_ino == inode
    assert store.health().ok
    assert store.add_feedback("m1", True, None) > 0
    store.close()


def _outside(db: Path, sql: str) -> str:
    """Run one statement in another process (an operator's ``sqlite3 db "select …"``, a backup script) on its
    own read-write connection, which it closes: the last connection to close checkpoints and deletes the WAL."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute(sys.argv[2]).fetchone()[0]); c.close()"
    )
    done = subprocess.run([sys.executable, "-c", code, str(db), sql], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_an_outside_connection_does_not_take_acknowledged_feedback_with_it(tmp_path: Path) -> None:
    """The health check reads the file's header. Opening and closing the file for that would drop this
    process's POSIX locks (SQLite's too): the outside connection would then think it is the last one, fold the
    WAL into the file and delete it, and every later write would go to a deleted WAL - acknowledged, and gone."""
    db = tmp_path / "db.sqlite3"
    store = FeedbackStore(db, check_seconds=3600)
    store.log_message("m1", "s1", "苏畅卡是什么", "…", True, "doc#1")
    assert _outside(db, "SELECT COUNT(*) FROM messages") == "1"
    acknowledged = [store.add_feedback("m1", helpful=True, comment=None) for _ in range(2)]
    assert all(acknowledged) and store.health().ok
    assert _outside(db, "SELECT COUNT(*) FROM feedback") == "2"
    store.close()
    assert _outside(db, "SELECT COUNT(*) FROM feedback") == "2"


def test_a_corrupt_file_at_start_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "bad.sqlite3"
    good = FeedbackStore(db)
    good.log_message("m1", "s1", "问题", "回答", True, None)
    good.close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage("corrupt", db)
    store = FeedbackStore(db)
    with pytest.raises(StorageUnavailable):
        store.add_feedback("m1", True, None)
    health = store.health()
    assert not health.ok and "broken" in health.detail


def test_retention_purges_old_messages_with_their_feedback(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    store = FeedbackStore(db)
    for mid in ("old", "recent"):
        store.log_message(mid, "s", "问题", "回答", True, None)
        store.add_feedback(mid, True, "评价")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE messages SET created_at = ? WHERE message_id = 'old'", (time.time() - 40 * 86_400,))
    assert store.purge(30) == 1
    assert store.message("old") is None and store.feedback("old") == []
    assert store.message("recent") is not None and len(store.feedback("recent")) == 1
    with pytest.raises(NotFound):
        store.add_feedback("old", True, None)


def test_feedback_rows_per_message_are_capped(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "c.sqlite3", max_feedback_per_message=2)
    store.log_message("m", "s", "问题", "回答", True, None)
    store.add_feedback("m", True, None)
    store.add_feedback("m", False, "不清楚")
    with pytest.raises(FeedbackLimitReached):
        store.add_feedback("m", True, None)
    assert len(store.feedback("m")) == 2


def test_stored_text_is_masked_and_encodable(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "m.sqlite3")
    store.log_message("m", "s", "我叫张伟，邮箱zhang.wei@example.com\ud800，QQ号123456789", "回答", True, None)
    row = store.message("m")
    assert row is not None
    question = str(row["question"])
    assert "张伟" not in question and "zhang.wei@example.com" not in question and "123456789" not in question
    store.add_feedback("m", True, "电话tel13912345678，身份证ID320102199001011234")
    comment = store.feedback("m")[0].comment or ""
    assert "13912345678" not in comment and "320102199001011234" not in comment
