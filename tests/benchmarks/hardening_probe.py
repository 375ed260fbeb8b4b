"""Rerun of the hardening issue's probes against real ``policybot serve`` processes; one line of figures each.

    python tests/benchmarks/hardening_probe.py

Each server runs on a free loopback port with a copy of the repo's built index, a temporary SQLite file and
POLICYBOT_* settings of its own (tests/server.py starts it). The probes, numbered as the issue's items:

1. lone surrogates, chunked over-limit bodies (/v1/ask, signed /wechat/mp), security headers on 413 and CORS;
2. personal data: each kind in questions and feedback comments, then counted raw in every table of the
   SQLite file; the access log of a /wechat/mp request with an openid;
3. Official Account replays: identical, same timestamp + nonce with another body, a stale timestamp, and in
   safe mode a msg_signature that does not cover the Encrypt element;
4. storage damage (corrupt pages, truncation, deletion) under a running server, on a file seeded by an earlier
   run; an outside read-write connection opened and closed meanwhile; retention; feedback limits;
5. /readyz with a malformed notice, a broken examples line and a damaged indexed notice: rebuilds started;
6. 1,100 slow clients against a server under ``ulimit -n 1024``; the app's own INFO events;
7. clause lookup by label; Korean, Arabic and Russian questions.

Nothing here sleeps to decide a result: waits are polls with a deadline. Runtime: a few minutes.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import selectors
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.store import FeedbackStore  # noqa: E402
from bot.wechat.crypto import MessageCrypto, signature  # noqa: E402
from tests.server import Server, uvicorn_server  # noqa: E402

MP_TOKEN = "probe-mp-token"
ADMIN_TOKEN = "probe-admin-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MP_APPID = "wx0123456789abcdef"
OPENID = "oABCxyz0123456789probeOpenId"
SECURITY = ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Permissions-Policy")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
QUESTIONS = [
    "稳岗返还找谁",
    "数字经济卓越工程师每年选多少人",
    "紫金山实验室可以自己定工资吗？",
    "技术经纪人怎么评职称？",
]
# kind -> (text a citizen writes, raw values that must not be stored)
PII: dict[str, tuple[str, list[str]]] = {
    "ID after letters": ("我的证件号ID320102199001011234能办吗", ["320102199001011234"]),
    "mobile after letters": ("请联系tel13912345678谢谢", ["13912345678"]),
    "mobile before letters": ("电话13912345678abc稳岗返还", ["13912345678"]),
    "15-digit ID": ("身份证320102900101123怎么领补贴", ["320102900101123"]),
    "full-width mobile": ("我的手机１３９１２３４５６７８", ["１３９１２３４５６７８", "13912345678"]),
    "Chinese-numeral mobile": ("手机一三九一二三四五六七八回电", ["一三九一二三四五六七八", "13912345678"]),
    "e-mail": ("发到zhang.san@example.com就行", ["zhang.san@example.com"]),
    "name+address+landline": (
        "我叫王小明，住南京市鼓楼区中山路100号3栋501室，电话025-83201234",
        ["王小明", "中山路100号", "3栋501室", "83201234"],
    ),
    "passport": ("护照E12345678可以吗", ["E12345678"]),
    "QQ": ("加我QQ 123456789聊", ["123456789"]),
    "社保卡": ("社保卡号 123456789012丢了怎么办", ["123456789012"]),
}


# --- servers and requests --------------------------------------------------------------------------------
def index_copy(dest: Path) -> Path:
    """A private copy of the repo's built index (the probes may damage or rebuild it)."""
    shutil.copytree(ROOT / "index", dest, symlinks=True)
    return dest


def env_for(tmp: Path, index: Path, **extra: str) -> dict[str, str]:
    return {
        "POLICYBOT_INDEX_DIR": str(index),
        "POLICYBOT_DB_PATH": str(tmp / "db.sqlite3"),
        "POLICYBOT_MP_TOKEN": MP_TOKEN,
        "POLICYBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        "POLICYBOT_CORS_ORIGINS": '["https://example.cn"]',
        "POLICYBOT_LOG_FORMAT": "json",
        **{f"POLICYBOT_{k.upper()}": v for k, v in extra.items()},
    }


def poll(probe: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """``probe()`` until truthy or ``timeout`` seconds passed; the last value either way."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    value = probe()
    while not value and time.monotonic() < deadline:
        pause.wait(interval)
        value = probe()
    return value


def code_of(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"non-JSON {r.headers.get('content-type')}"
    return f"JSON code={body.get('code')}" if isinstance(body, dict) and "code" in body else "JSON"


def headers_note(r: httpx.Response) -> str:
    present = [h for h in (*SECURITY, "Content-Security-Policy") if h in r.headers]
    return f"security headers {len(present)}/{len(SECURITY) + 1}"


def ask(server: Server, question: str, **extra: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/ask", json={"question": question, **extra}, timeout=60)


def feedback(server: Server, message_id: str, comment: str | None = None) -> httpx.Response:
    body = {"message_id": message_id, "helpful": True, "comment": comment}
    return httpx.post(f"{server.url}/v1/feedback", json=body, timeout=30)


def chunked(total: int, piece: bytes = b"x") -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked (an iterator: httpx sends no Content-Length)."""
    for _ in range(total // 1024):
        yield piece * 1024


def log_lines(server: Server) -> list[dict[str, Any]]:
    out = []
    for line in server.log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def db_rows(path: Path) -> list[str]:
    """Every cell of every table, as text (a reader of its own; WAL content included)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [str(c) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"') for c in row if c is not None]
    finally:
        conn.close()


# --- Official Account messages ------------------------------------------------------------------------
def mp_query(ts: int | None = None, nonce: str | None = None, **extra: str) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    once = nonce or secrets.token_hex(6)
    return {"signature": signature(MP_TOKEN, stamp, once), "timestamp": stamp, "nonce": once, **extra}


def mp_xml(content: str, msg_id: str, sender: str = OPENID) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_probe]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def mp_post(server: Server, query: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{server.url}/wechat/mp?{urlencode(query)}", content=body, timeout=30)


def mp_result(r: httpx.Response) -> str:
    return f"{r.status_code} {code_of(r) if r.status_code >= 400 else 'reply ' + str(len(r.content)) + ' B'}"


# --- 1. malformed and oversized requests -----------------------------------------------------------------
def probe_requests(server: Server) -> None:
    raw = {"alone": b'{"question": "\\ud800"}', "in text": b'{"question": "\\ud800\\u82cf\\u7545\\u5361\\udbff"}'}
    for path in ("/v1/ask", "/v1/ask/stream"):
        parts = []
        for name, body in raw.items():
            r = httpx.post(
                f"{server.url}{path}", content=body, headers={"content-type": "application/json"}, timeout=30
            )
            parts.append(f"{name} {r.status_code} {code_of(r) if r.status_code != 200 else r.headers['content-type']}")
        print(f"1 surrogate {path}: " + "; ".join(parts))
    r = httpx.post(
        f"{server.url}/wechat/mp?{urlencode(mp_query(openid=OPENID))}",
        content=chunked(200 * 1024, b"<"),
        headers={"content-type": "text/xml"},
        timeout=30,
    )
    print(f"1 chunked 200 KB XML /wechat/mp (signed): {r.status_code} {code_of(r)}, {headers_note(r)}")
    r = httpx.post(f"{server.url}/v1/ask", content=chunked(64 * 1024), headers={"content-type": "application/json"})
    print(f"1 chunked 64 KB /v1/ask: {r.status_code} {code_of(r)}, {headers_note(r)}")
    for origin in ("https://example.cn", "https://evil.example"):
        pre = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        r = httpx.options(f"{server.url}/v1/ask", headers=pre)
        allow = r.headers.get("access-control-allow-origin", "-")
        print(f"1 CORS preflight {origin}: {r.status_code} allow-origin={allow}, {headers_note(r)}")


# --- 2. personal data ----------------------------------------------------------------------------------
def probe_pii(server: Server, db: Path) -> None:
    message_ids = []
    statuses: Counter[str] = Counter()
    for text, _ in PII.values():
        r = ask(server, text)
        statuses[f"ask {r.status_code}"] += 1
        if r.status_code == 200:
            message_ids.append(r.json()["message_id"])
    for i, (text, _) in enumerate(PII.values()):
        statuses[f"feedback {feedback(server, message_ids[i // 3], text).status_code}"] += 1
    cells = db_rows(db)
    raw_bytes = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    log = server.log.read_text(encoding="utf-8", errors="replace")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    stored = dict(conn.execute("SELECT message_id, question FROM messages").fetchall())
    conn.close()
    print(f"2 PII posted: {dict(statuses)}; {len(cells)} stored cells")
    for (kind, (_, values)), mid in zip(PII.items(), message_ids, strict=True):
        in_tables = sum(v in c for v in values for c in cells)
        in_file = sum(raw_bytes.count(v.encode()) for v in values)
        in_log = sum(log.count(v) for v in values)
        print(
            f"2 PII {kind:<22} raw in tables {in_tables}, in db/wal bytes {in_file}, in server log {in_log}; "
            f"question stored as {stored.get(mid)!r}"
        )
    # an Official Account message with the sender's openid in the query string
    query = mp_query(openid=OPENID)
    r = mp_post(server, query, mp_xml("稳岗返还找谁", "900000001"))
    log = server.log.read_text(encoding="utf-8", errors="replace")
    access = [x["message"] for x in log_lines(server) if x.get("name") == "uvicorn.access"]
    wechat = [m for m in access if "/wechat/" in m]
    print(
        f"2 access log /wechat/mp ({r.status_code}): {len(wechat)} lines, with a query string "
        f"{sum('/wechat/mp?' in m for m in wechat)}, raw openid in whole log {log.count(OPENID)}, "
        f"signature in log {log.count(query['signature'])}; "
        f"raw openid in db cells {sum(OPENID in c for c in db_rows(db))}"
    )


# --- 3. Official Account replays ----------------------------------------------------------------------
def probe_replays(server: Server, db: Path) -> None:
    content = "数字经济卓越工程师每年选多少人"
    query, body = mp_query(openid=OPENID), mp_xml(content, "900000002")
    first = mp_post(server, query, body)
    again = mp_post(server, query, body)
    forged = mp_post(server, query, mp_xml("苏畅卡是什么", "900000003"))
    stale = mp_post(server, mp_query(ts=int(time.time()) - 600, openid=OPENID), mp_xml(content, "900000004"))
    answered = sum(c == content for c in db_rows(db))
    same = first.content == again.content
    print(
        f"3 mp valid: {mp_result(first)}; identical replay: {mp_result(again)} (same reply {same}, "
        f"question stored {answered}x)"
    )
    print(f"3 mp same timestamp+nonce, other body: {mp_result(forged)}; timestamp 10 min old: {mp_result(stale)}")


def probe_safe_mode(server: Server) -> None:
    crypto = MessageCrypto(MP_TOKEN, AES_KEY, MP_APPID)

    def post(content: str, msg_id: str, signed_over: str | None = None) -> httpx.Response:
        encrypt = crypto.encrypt(mp_xml(content, msg_id).decode())
        query = mp_query(openid=OPENID, encrypt_type="aes")
        query["msg_signature"] = crypto.sign(query["timestamp"], query["nonce"], signed_over or encrypt)
        body = f"<xml><ToUserName><![CDATA[gh_probe]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return mp_post(server, query, body.encode())

    good = post("稳岗返还找谁", "910000001")
    other = crypto.encrypt(mp_xml("苏畅卡是什么", "910000002").decode())
    bad = post("稳岗返还找谁", "910000003", signed_over=other)
    plain = mp_post(server, mp_query(openid=OPENID), mp_xml("稳岗返还找谁", "910000004"))
    encrypted = b"<Encrypt>" in good.content
    print(
        f"3 safe mode valid: {mp_result(good)} (encrypted reply {encrypted}); msg_signature not over Encrypt: "
        f"{mp_result(bad)}; unencrypted message: {mp_result(plain)}"
    )


# --- 4. storage --------------------------------------------------------------------------------------
def feedback_ids(db: Path) -> set[int] | str:
    """The feedback ids a read-only reader finds in the file (read-only: it never checkpoints or deletes the
    WAL when it closes), or why it cannot read them."""
    if not db.exists():
        return "no file"
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return {int(r[0]) for r in conn.execute("SELECT id FROM feedback")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"


def kept(db: Path, acked: list[httpx.Response]) -> str:
    """How many acknowledged (201) feedback posts are really in the file."""
    if not acked:
        return "no 201"
    found = feedback_ids(db)
    if isinstance(found, str):
        return f"{len(acked)} x 201, file {found}"
    return f"{sum(r.json()['id'] in found for r in acked)}/{len(acked)} x 201 in the file"


def seed(tmp: Path, index: Path) -> list[str]:
    """24 answered messages and one feedback; the clean stop moves the WAL into the main file, so the damage
    below hits real data (and no outside SQLite connection touches the file while a server runs)."""
    with uvicorn_server(env_for(tmp, index), tmp / "seed.log", cli=True) as server:
        ids = [ask(server, QUESTIONS[i % len(QUESTIONS)] + "?" * i).json()["message_id"] for i in range(24)]
        feedback(server, ids[0])
    return ids


def damage(db: Path, kind: str) -> None:
    if kind == "corrupt pages":
        page, size = 4096, db.stat().st_size
        start = max(page, (size // page // 2) * page)
        with open(db, "r+b") as fh:
            fh.seek(start)
            fh.write(random.Random(7).randbytes(min(2 * page, size - start)))
    elif kind == "truncate":
        os.truncate(db, 0)
    else:
        db.unlink()


def probe_storage(index: Path, kind: str) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp/h14") as name:
        tmp, db = Path(name), Path(name) / "db.sqlite3"
        ids = seed(tmp, index)
        size = db.stat().st_size
        env = env_for(tmp, index, storage_check_seconds="1")
        with uvicorn_server(env, tmp / "server.log", cli=True) as server:
            before = feedback(server, ids[1]).status_code
            damage(db, kind)
            at_once = feedback(server, ids[2], "damage probe at once")
            t = time.monotonic()
            ready = poll(lambda: httpx.get(f"{server.url}/readyz").status_code == 503, 15)
            seen = time.monotonic() - t
            readyz = httpx.get(f"{server.url}/readyz")
            after = feedback(server, ids[3], "damage probe after readyz")
            asked = ask(server, QUESTIONS[0]).status_code
            acked = [r for r in (at_once, after) if r.status_code == 201]
            detail = readyz.json().get("detail", "")[-80:]
            print(
                f"4 storage {kind:<13} ({size} B file) feedback before {before}; at once {at_once.status_code} "
                f"{code_of(at_once)}; /readyz {readyz.status_code} ({'503 within' if ready else 'no 503 in'} "
                f"{seen:.1f} s: …{detail}); feedback after {after.status_code} {code_of(after)}; ask {asked}; "
                f"{kept(db, acked)}; file exists {db.exists()}"
            )


def probe_outside_connection(index: Path) -> None:
    """Someone opens the file read-write while the server runs (``sqlite3 db.sqlite3 "select …"``, a backup
    script) and closes it: is feedback acknowledged afterwards still written to the file, and after a crash?"""
    with tempfile.TemporaryDirectory(dir="/tmp/h14") as name:
        tmp, db = Path(name), Path(name) / "db.sqlite3"
        with uvicorn_server(env_for(tmp, index), tmp / "server.log", cli=True) as server:
            ids = [ask(server, q).json()["message_id"] for q in QUESTIONS]
            first = feedback(server, ids[0])
            outside = sqlite3.connect(db)
            count = outside.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
            outside.close()
            wal = (tmp / "db.sqlite3-wal").exists()
            later = [feedback(server, i) for i in ids[1:]]
            running = kept(db, [first, *later])
            readyz = httpx.get(f"{server.url}/readyz").status_code
            server.kill()
            print(
                f"4 outside read-write connection (saw {count} row, -wal still there {wal}): feedback after it "
                f"{[r.status_code for r in later]}; while running {running}; /readyz {readyz}; "
                f"after SIGKILL {kept(db, [first, *later])}"
            )


def probe_limits_and_retention(server: Server, db: Path, old: str) -> None:
    """``old``: a message written 2 days ago before the server started (retention 1 day)."""
    t = time.monotonic()
    purged = poll(lambda: feedback(server, old).status_code == 404, 15, 0.5)
    left = feedback_ids(db)
    defaults = Settings()
    print(
        f"4 retention: default POLICYBOT_RETENTION_DAYS={defaults.retention_days} (purge every "
        f"{defaults.purge_interval_seconds:.0f} s); with 1 day a message written 2 days ago: "
        f"{'purged (feedback on it 404)' if purged else 'NOT purged'} after {time.monotonic() - t:.1f} s, "
        f"its feedback rows left {left if isinstance(left, str) else len(left)}"
    )
    mid = ask(server, QUESTIONS[1]).json()["message_id"]
    results: Counter[str] = Counter()
    for _ in range(50):
        r = feedback(server, mid)
        results[f"{r.status_code} {r.json().get('code', 'ok')}"] += 1
    print(f"4 feedback x50 on one message: {dict(results)}")


def old_message(db: Path) -> str:
    """Before the server starts: one message with feedback, written 2 days ago."""
    store = FeedbackStore(db)
    store.log_message("old-message", "old-session", "稳岗返还找谁", "…", True, None)
    store.add_feedback("old-message", True, None)
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE messages SET created_at = created_at - 2 * 86400")
    conn.commit()
    conn.close()
    return "old-message"


# --- 5. readiness and rebuilds -------------------------------------------------------------------------
def probe_readiness(tmp: Path) -> None:
    index = index_copy(tmp / "index")
    sources = index / "sources"
    (sources / "zz-empty.txt").write_text("", encoding="utf-8")
    (sources / "zz-binary.txt").write_bytes(bytes(range(256)) * 8)
    with open(index / "examples.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"question": "broken line", "measures": [\n')
    env = env_for(tmp, index, index_watch_seconds="0")  # nothing but the probes may start a rebuild

    def generations() -> int:
        return len(list((index / "build").glob("gen-*")))

    def rebuilds_logged(server: Server) -> int:
        return sum("reindex started" in x.get("message", "") for x in log_lines(server))

    with uvicorn_server(env, tmp / "server.log", cli=True) as server:
        status = httpx.get(f"{server.url}/v1/admin/status", headers=ADMIN).json()
        gens, logged = generations(), rebuilds_logged(server)
        codes = Counter(httpx.get(f"{server.url}/readyz").status_code for _ in range(50))
        print(
            f"5 readyz x50 with 2 malformed notices + broken example line: {dict(codes)}; generations {gens}->"
            f"{generations()}, 'reindex started' lines {logged}->{rebuilds_logged(server)}, attempts "
            f"{status['attempts']}->{httpx.get(f'{server.url}/v1/admin/status', headers=ADMIN).json()['attempts']}"
        )
        print(
            f"5 admin status problems ({len(status['problems'])}): "
            + " | ".join(p.rsplit("/", 1)[-1] for p in status["problems"])
        )
        # now damage the notice the served index was built from: the next rebuild must fail, the old index keep serving
        notice = next(p for p in sources.glob("*.txt") if not p.name.startswith("zz-"))
        notice.write_bytes(b"\xff\xfe" + notice.read_bytes()[:200])
        started = httpx.post(f"{server.url}/v1/admin/reindex", headers=ADMIN).json()["started"]

        def settled() -> dict[str, Any] | None:
            s: dict[str, Any] = httpx.get(f"{server.url}/v1/admin/status", headers=ADMIN).json()
            return s if s["reindex"] != "running" else None

        status = poll(settled, 120, 0.5)
        gens, logged = generations(), rebuilds_logged(server)
        codes = Counter(httpx.get(f"{server.url}/readyz").status_code for _ in range(50))
        after = httpx.get(f"{server.url}/v1/admin/status", headers=ADMIN).json()
        r = ask(server, QUESTIONS[1])
        label = r.json()["citations"][0]["label"] if r.status_code == 200 and r.json()["citations"] else "-"
        print(
            f"5 indexed notice damaged, admin reindex (started {started}): {status['reindex']}, last_error "
            f"{(status['last_error'] or '').rsplit('/', 1)[-1]}; readyz x50 {dict(codes)}; "
            f"generations {gens}->{generations()}, "
            f"'reindex started' lines {logged}->{rebuilds_logged(server)}, attempts {after['attempts']}; "
            f"ask {r.status_code} cites {label}"
        )


# --- 6. slow clients ------------------------------------------------------------------------------------
def slow_clients(url: str, count: int, window: float, out: dict[str, Any], opened: threading.Event) -> None:
    """``count`` connections that send a partial request head and stall; what the server did within ``window``."""
    addr = urlparse(url)
    sel = selectors.DefaultSelector()
    started: dict[socket.socket, float] = {}
    for _ in range(count):
        new = socket.socket()
        new.setblocking(False)
        new.connect_ex((addr.hostname, addr.port))
        sel.register(new, selectors.EVENT_WRITE, "connecting")
        started[new] = time.monotonic()
    opened.set()
    outcome: Counter[str] = Counter()
    closed_after: list[float] = []
    busy: set[socket.socket] = set()
    deadline = time.monotonic() + window
    while time.monotonic() < deadline and sel.get_map():
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            if key.data == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    outcome["connect failed"] += 1
                    sel.unregister(s)
                    s.close()
                    continue
                try:
                    s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
                except OSError:
                    outcome["closed before the request"] += 1
                    sel.unregister(s)
                    s.close()
                    continue
                sel.modify(s, selectors.EVENT_READ, "stalled")
                continue
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            if data.startswith(b"HTTP/1.1 503"):
                busy.add(s)
            if not data:
                outcome["503 then closed" if s in busy else "closed without reply"] += 1
                if s not in busy:
                    closed_after.append(time.monotonic() - started[s])
                sel.unregister(s)
                s.close()
    for key in list(sel.get_map().values()):
        outcome[f"still open ({key.data})"] += 1
        key.fileobj.close()  # type: ignore[union-attr]
    out["outcome"] = dict(outcome)
    out["closed_after"] = sorted(closed_after)


def probe_slow_clients(server: Server) -> None:
    size = server.log.stat().st_size
    out: dict[str, Any] = {}
    opened = threading.Event()
    flood = threading.Thread(target=slow_clients, args=(server.url, 1100, 15.0, out, opened))
    flood.start()
    opened.wait(60)
    t = time.monotonic()
    first: str = ""
    answered: httpx.Response | None = None
    while time.monotonic() - t < 30:
        try:
            r = httpx.post(f"{server.url}/v1/ask", json={"question": QUESTIONS[0]}, timeout=30)
            first = first or f"{r.status_code} {code_of(r)} in {(time.monotonic() - t) * 1000:.0f} ms"
            if r.status_code == 200:
                answered = r
                break
        except httpx.HTTPError as exc:
            first = first or f"{type(exc).__name__} after {(time.monotonic() - t) * 1000:.0f} ms"
        threading.Event().wait(0.2)
    to_answer = time.monotonic() - t
    flood.join()
    log = server.log.read_text(encoding="utf-8", errors="replace")[size:]
    closed = out["closed_after"]
    median = f"{closed[len(closed) // 2]:.1f} s" if closed else "-"
    print(
        f"6 1100 slow clients (ulimit -n 1024): fresh /v1/ask first try {first}; "
        f"{'200' if answered else 'no 200'} after {to_answer:.2f} s; server within 15 s: {out['outcome']} "
        f"(closed without reply after median {median})"
    )
    print(
        f"6 server log during the flood: {len(log.encode())} bytes, 'Too many open files' "
        f"{log.count('Too many open files')}, Traceback {log.count('Traceback')}; process alive "
        f"{server.process.poll() is None}"
    )
    before = len(log_lines(server))
    started = httpx.post(f"{server.url}/v1/admin/reindex", headers=ADMIN).json()["started"]

    def events() -> list[str]:
        return [
            f"{x['levelname']} {x['name']}: {x['message'][:60]}"
            for x in log_lines(server)[before:]
            if x.get("name", "").startswith("policybot.") and "reindex" in x.get("message", "")
        ]

    done = poll(lambda: [e for e in events() if "done" in e or "failed" in e], 120, 0.5)
    print(f"6 admin reindex (started {started}): app log events {events()}{'' if done else ' (no end seen)'}")


# --- 7. labels and languages ----------------------------------------------------------------------------
def probe_labels(server: Server) -> None:
    for q in ("（七）", "第7条讲的是什么", "第十一条找哪个部门", "第7项措施"):
        r = ask(server, q)
        a = r.json()
        cited = f"{a['citations'][0]['label']} (measure {a['citations'][0]['measure']})" if a.get("citations") else "-"
        offices = "、".join(o["name"] for o in a.get("offices", [])[:3])
        print(
            f"7 {q}: {r.status_code} outcome={a.get('outcome')} reason={a.get('reason')} cites {cited}; "
            f"offices {offices or '-'}; {a.get('answer', '').splitlines()[0][:40]}"
        )
    for lang, q in (
        ("Korean", "실업급여는 어떻게 신청하나요?"),
        ("Arabic", "كيف أتقدم بطلب للحصول على إعانة البطالة؟"),
        ("Russian", "Как подать заявление на пособие по безработице?"),
    ):
        r = ask(server, q)
        a = r.json()
        print(f"7 {lang}: {r.status_code} outcome={a.get('outcome')} first line: {a.get('answer', '').splitlines()[0]}")


def main() -> None:
    for key in [k for k in os.environ if k.startswith("POLICYBOT_")]:
        del os.environ[key]  # only the settings below
    Path("/tmp/h14").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/tmp/h14") as shared:
        index = index_copy(Path(shared) / "index")
        with tempfile.TemporaryDirectory(dir="/tmp/h14") as tmp:
            db = Path(tmp) / "db.sqlite3"
            env = env_for(Path(tmp), index)
            with uvicorn_server(env, Path(tmp) / "server.log", cli=True, max_open_files=1024) as server:
                probe_requests(server)
                probe_pii(server, db)
                probe_replays(server, db)
                probe_labels(server)
                probe_slow_clients(server)
        with tempfile.TemporaryDirectory(dir="/tmp/h14") as tmp:
            env = env_for(
                Path(tmp),
                index,
                mp_encoding_aes_key=AES_KEY,
                mp_appid=MP_APPID,
                retention_days="1",
                purge_interval_seconds="1",
            )
            old = old_message(Path(tmp) / "db.sqlite3")
            with uvicorn_server(env, Path(tmp) / "server.log", cli=True) as server:
                probe_safe_mode(server)
                probe_limits_and_retention(server, Path(tmp) / "db.sqlite3", old)
        for kind in ("corrupt pages", "truncate", "delete"):
            probe_storage(index, kind)
        probe_outside_connection(index)
    with tempfile.TemporaryDirectory(dir="/tmp/h14") as tmp:
        probe_readiness(Path(tmp))
    print(f"done in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
