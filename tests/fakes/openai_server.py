"""A fake OpenAI-compatible chat endpoint on a loopback port: a real HTTP server (``http.server``) in a thread.

It speaks ``POST /v1/chat/completions`` like the real protocol: a JSON ``chat.completion`` for ordinary
requests, and for ``"stream": true`` an SSE body (``data: {chat.completion.chunk}`` lines, then
``data: [DONE]``) sent with chunked transfer encoding, a few characters per chunk. What it replies is
scripted per test through :class:`Script`:

* ``text`` - the reply (faithful, or one that invents a figure, renames an office, misquotes …);
* ``status`` - an HTTP error instead (500 with an OpenAI-style error body);
* ``hang`` - block before the first byte until :attr:`FakeOpenAI.release` is set (tests never set it: the
  client's deadline must end the wait; teardown releases the thread);
* ``hang_after_chunks`` - streaming only: send that many chunks, then block the same way.

Every request body is kept in ``requests`` so tests can look at the prompt the service sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    text: str = ""
    status: int = 200
    hang: bool = False
    hang_after_chunks: int | None = None
    chunk_chars: int = 3


@dataclass
class FakeOpenAI:
    script: Script = field(default_factory=Script)
    queue: list[Script] = field(default_factory=list)  # per request, before ``script``
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def next_script(self, body: dict[str, Any]) -> Script:
        with self.lock:
            self.requests.append(body)
            return self.queue.pop(0) if self.queue else self.script

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _json(self, status: int, payload: object) -> None:
            raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
            self.wfile.flush()

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            script = fake.next_script(body)
            try:
                if script.hang:
                    fake.release.wait(timeout=60)
                    return
                if script.status != 200:
                    self._json(script.status, {"error": {"message": "scripted failure", "type": "server_error"}})
                    return
                if body.get("stream"):
                    self._stream(body, script)
                else:
                    self._json(200, _completion(body, script.text))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its deadline): nothing to answer

        def _stream(self, body: dict[str, Any], script: Script) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            pieces = [script.text[i : i + script.chunk_chars] for i in range(0, len(script.text), script.chunk_chars)]
            for n, piece in enumerate(pieces):
                if script.hang_after_chunks is not None and n >= script.hang_after_chunks:
                    fake.release.wait(timeout=60)
                    return
                delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
                self._chunk(_sse(_chunk_payload(body, delta, None)))
            self._chunk(_sse(_chunk_payload(body, {}, "stop")))
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")

    return Handler


def _sse(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"


def _chunk_payload(body: dict[str, Any], delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()  # let any hanging handler finish
        server.shutdown()
        server.server_close()
