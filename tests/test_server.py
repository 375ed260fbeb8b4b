"""The production server (``policybot serve``: bot/server.py, bot/logs.py) as a real process: slow and
numerous clients under a small ``ulimit -n``, body deadlines, the access log's privacy, the app's own log."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from bot.config import Settings

from .server import Server, uvicorn_server

SLOW_CLIENTS = 300  # more than the server's ulimit -n below
OPENID = "o-secret-openid-4711"


@pytest.fixture(scope="module")
def served(full_settings: Settings, full_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("served")
    env = {
        "POLICYBOT_INDEX_DIR": str(full_settings.index_dir),
        "POLICYBOT_DB_PATH": str(tmp / "db.sqlite3"),
        "POLICYBOT_MP_TOKEN": "server-token",
        "POLICYBOT_LIMIT_CONCURRENCY": "48",
        "POLICYBOT_HEADER_TIMEOUT_SECONDS": "1",
        "POLICYBOT_BODY_TIMEOUT_SECONDS": "1",
        "POLICYBOT_LOG_FORMAT": "json",
        "POLICYBOT_RATE_LIMIT_CLIENT": "100000/minute",
    }
    with uvicorn_server(env, tmp / "server.log", cli=True, max_open_files=256) as s:
        yield s


def _wait(event: threading.Event, seconds: float) -> None:
    event.wait(seconds)


def test_slow_clients_cannot_exhaust_the_server(served: Server) -> None:
    """300 connections that never finish their headers, against a process with ulimit -n 256: the ones past
    the cap get a JSON 503 at once, the rest are closed after the header timeout, answers go on."""
    addr = urlparse(served.url)
    socks = []
    for _ in range(SLOW_CLIENTS):
        s = socket.create_connection((addr.hostname, addr.port), timeout=15)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        socks.append(s)
    outcomes = []
    for s in socks:
        data = b""
        try:
            while chunk := s.recv(4096):  # the server must end every one of them, within the socket timeout
                data += chunk
        except TimeoutError:
            data = b"TIMEOUT"
        except ConnectionResetError:  # closed while our unread request bytes were still in its buffer
            data += b"RESET"
        outcomes.append(data)
        s.close()
    assert b"TIMEOUT" not in outcomes
    turned_away = [o for o in outcomes if o.startswith(b"HTTP/1.1 503") or o.endswith(b"RESET")]
    assert turned_away, outcomes[:3]
    assert all(b"server_busy" in o for o in turned_away if o.startswith(b"HTTP/1.1 503"))
    assert len([o for o in outcomes if o == b""]) >= 1  # held, then closed by the header timeout
    deadline = threading.Event()
    for _ in range(50):
        r = httpx.post(f"{served.url}/v1/ask", json={"question": "苏畅卡是什么"}, timeout=30)
        if r.status_code == 200:
            break
        _wait(deadline, 0.2)
    assert r.status_code == 200 and r.json()["in_scope"] is True
    log = Path(served.log).read_text(errors="replace")
    assert "Too many open files" not in log and "Traceback" not in log
    assert served.process.poll() is None


def test_a_body_that_never_arrives_is_408(served: Server) -> None:
    addr = urlparse(served.url)
    with socket.create_connection((addr.hostname, addr.port), timeout=15) as s:
        s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["code"] == "request_timeout"


def test_access_log_keeps_no_openid_or_personal_data_and_app_events_are_logged(served: Server) -> None:
    query = {"signature": "0" * 40, "timestamp": "1", "nonce": "2", "openid": OPENID}
    assert httpx.post(f"{served.url}/wechat/mp", params=query, content=b"<xml/>").status_code == 403
    assert httpx.get(f"{served.url}/v1/cities", params={"tel": "13912345678", "mail": "zhang@example.com"}).is_success
    log = Path(served.log).read_text(errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [line["message"] for line in lines if line.get("name") == "uvicorn.access"]
    assert any('"POST /wechat/mp HTTP/1.1" 403' in m for m in access), access[-5:]
    assert any("/v1/cities?" in m and "139****5678" in m for m in access), access[-5:]
    assert OPENID not in log and "13912345678" not in log and "zhang@example.com" not in log
    assert "server-token" not in log
    events = [line for line in lines if line.get("name", "").startswith("policybot.")]
    assert any(e["levelname"] == "INFO" and "index" in e["message"] and "loaded" in e["message"] for e in events)
