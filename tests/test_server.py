"""The production server (``policybot serve``: bot/server.py, bot/logs.py) as a real process: slow and
numerous clients under a small ``ulimit -n``, body deadlines, the access log's privacy, the app's own log."""

from __future__ import annotations

import json
import os
import signal
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


def _env(full_settings: Settings, tmp: Path) -> dict[str, str]:
    return {
        "POLICYBOT_INDEX_DIR": str(full_settings.index_dir),
        "POLICYBOT_DB_PATH": str(tmp / "db.sqlite3"),
        "POLICYBOT_MP_TOKEN": "server-token",
        "POLICYBOT_LIMIT_CONCURRENCY": "48",
        "POLICYBOT_HEADER_TIMEOUT_SECONDS": "1",
        "POLICYBOT_BODY_TIMEOUT_SECONDS": "1",
        "POLICYBOT_LOG_FORMAT": "json",
        "POLICYBOT_RATE_LIMIT_CLIENT": "100000/minute",
    }


@pytest.fixture(scope="module")
def served(full_settings: Settings, full_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("served")
    with uvicorn_server(_env(full_settings, tmp), tmp / "server.log", cli=True, max_open_files=256) as s:
        yield s


@pytest.fixture
def stalled(full_settings: Settings, full_index, tmp_path: Path) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """A server of its own: the burst leaves queued connections behind that must not disturb other tests."""
    with uvicorn_server(_env(full_settings, tmp_path), tmp_path / "server.log", cli=True, max_open_files=256) as s:
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
    _assert_still_answering(served)


def _assert_still_answering(served: Server) -> None:
    """A question is answered once the cap has room again, and the log shows no exhausted descriptors."""
    retry = threading.Event()
    for _ in range(50):
        r = httpx.post(f"{served.url}/v1/ask", json={"question": "苏畅卡是什么"}, timeout=30)
        if r.status_code == 200:
            break
        _wait(retry, 0.2)
    assert r.status_code == 200 and r.json()["in_scope"] is True
    log = Path(served.log).read_text(errors="replace")
    assert "Too many open files" not in log and "Traceback" not in log
    assert served.process.poll() is None


def test_a_burst_queued_while_the_worker_is_stalled_does_not_exhaust_its_files(stalled: Server) -> None:
    """300 connections queued while the worker cannot run (stopped: a long GC pause, a busy host), then it
    resumes: asyncio accepts a whole queued burst at once, so the listen backlog (the cap) must bound it."""
    addr = urlparse(stalled.url)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(SLOW_CLIENTS)]
    os.kill(stalled.process.pid, signal.SIGSTOP)
    try:
        for s in socks:
            s.setblocking(False)
            s.connect_ex((addr.hostname, addr.port))  # loopback: the handshake completes (or is dropped) here
    finally:
        os.kill(stalled.process.pid, signal.SIGCONT)
    try:
        _assert_still_answering(stalled)  # the burst was accepted before this request was
    finally:
        for s in socks:
            s.close()


def test_a_body_that_never_arrives_is_408(stalled: Server) -> None:
    addr = urlparse(stalled.url)
    with socket.create_connection((addr.hostname, addr.port), timeout=15) as s:
        s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["code"] == "request_timeout"


def test_access_log_keeps_no_openid_or_personal_data_and_app_events_are_logged(stalled: Server) -> None:
    query = {"signature": "0" * 40, "timestamp": "1", "nonce": "2", "openid": OPENID}
    assert httpx.post(f"{stalled.url}/wechat/mp", params=query, content=b"<xml/>").status_code == 403
    assert httpx.get(f"{stalled.url}/v1/cities", params={"tel": "13912345678", "mail": "zhang@example.com"}).is_success
    log = Path(stalled.log).read_text(errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [line["message"] for line in lines if line.get("name") == "uvicorn.access"]
    assert any('"POST /wechat/mp HTTP/1.1" 403' in m for m in access), access[-5:]
    assert any("/v1/cities?" in m and "139****5678" in m for m in access), access[-5:]
    assert OPENID not in log and "13912345678" not in log and "zhang@example.com" not in log
    assert "server-token" not in log
    events = [line for line in lines if line.get("name", "").startswith("policybot.")]
    assert any(e["levelname"] == "INFO" and "index" in e["message"] and "loaded" in e["message"] for e in events)


def test_a_cap_the_open_file_limit_cannot_hold_refuses_to_start(tmp_path: Path) -> None:
    """``policybot serve`` under ``ulimit -n 200`` with the default cap (256 connections): a clear
    configuration error at start, not "Too many open files" under load."""
    import resource
    import subprocess
    import sys

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", "1"],
        env={**os.environ, "POLICYBOT_LIMIT_CONCURRENCY": "256", "POLICYBOT_DB_PATH": str(tmp_path / "db")},
        preexec_fn=limit_files,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "config_error" in run.stderr and "ulimit -n is 200" in run.stderr and "Traceback" not in run.stderr
