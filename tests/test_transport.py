"""Streaming over a real uvicorn process: chunk boundaries, disconnects, concurrent clients."""

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


@pytest.fixture(scope="module")
def server(full_settings: Settings, full_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("transport")
    env = {
        "POLICYBOT_INDEX_DIR": str(full_settings.index_dir),
        "POLICYBOT_DB_PATH": str(tmp / "db.sqlite3"),
        "POLICYBOT_MP_TOKEN": "transport-token",
    }
    with uvicorn_server(env, tmp / "server.log") as s:
        yield s


def test_stream_frames_survive_any_chunking(server: Server) -> None:
    body = {"question": "外卖骑手送餐摔伤了有保障吗", "city": "无锡"}
    chunks: list[bytes] = []
    with httpx.stream("POST", f"{server.url}/v1/ask/stream", json=body, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["x-accel-buffering"] == "no"
        chunks.extend(r.iter_raw())
    raw = b"".join(chunks)
    assert raw.isascii() and raw.endswith(b"data: [DONE]\n\n")
    plain = httpx.post(f"{server.url}/v1/ask", json=body, timeout=30).json()

    def reassemble(pieces: list[bytes]) -> str:
        # the parsing a mini-program does: buffer, split on the blank line, decode each whole frame
        buf, text = b"", ""
        for piece in pieces:
            buf += piece
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                data = frame.decode("ascii").removeprefix("data: ")
                if data != "[DONE]":
                    payload = json.loads(data)
                    text += payload.get("text", "") if payload["type"] == "delta" else ""
        return text

    for size in (1, 2, 3, 7, 64, 1000):
        assert reassemble([raw[i : i + size] for i in range(0, len(raw), size)]) == plain["answer"]


def test_a_client_that_disconnects_mid_stream_costs_the_server_nothing(server: Server) -> None:
    host = urlparse(server.url)
    payload = json.dumps({"question": "稳岗返还"}).encode()
    for _ in range(5):
        with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/ask/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
        # closed after the first bytes
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert httpx.post(f"{server.url}/v1/ask", json={"question": "苏畅卡"}, timeout=30).json()["in_scope"] is True
    assert server.process.poll() is None


def test_concurrent_clients_all_get_answers(server: Server) -> None:
    questions = ["稳岗返还", "苏畅卡是什么", "外卖骑手工伤", "农村电商园区奖励", "住房公积金怎么取"] * 4
    results: list[int] = []

    def ask(q: str) -> None:
        results.append(httpx.post(f"{server.url}/v1/ask", json={"question": q}, timeout=60).status_code)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(questions)


def _chunked(total: int) -> Iterator[bytes]:
    """A body without Content-Length (Transfer-Encoding: chunked), 1 KiB at a time."""
    for _ in range(total // 1024):
        yield b"x" * 1024


@pytest.mark.parametrize(
    ("path", "size"), [("/v1/ask", 20 * 1024), ("/wechat/mp", 200 * 1024), ("/v1/feedback", 64 * 1024)]
)
def test_chunked_bodies_over_the_limit_are_413(server: Server, path: str, size: int) -> None:
    r = httpx.post(f"{server.url}{path}", content=_chunked(size), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_lone_surrogates_are_answered_not_500(server: Server) -> None:
    raw = b'{"question": "\\ud800\\u82cf\\u7545\\u5361\\udbff"}'
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = httpx.post(f"{server.url}{path}", content=raw, headers={"content-type": "application/json"}, timeout=30)
        assert r.status_code == 200, r.text


def test_server_log_has_no_tracebacks(server: Server) -> None:
    httpx.post(f"{server.url}/v1/ask", content=b"\xff\xfe", headers={"content-type": "application/json"}, timeout=10)
    assert "Traceback" not in Path(server.log).read_text(errors="replace")
