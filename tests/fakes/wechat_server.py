"""A fake of WeChat's server API on a loopback port: a real HTTP server (``http.server``) in a thread.

It answers like ``api.weixin.qq.com`` for the endpoints the bot uses, including WeChat's error codes:

* ``GET /sns/jscode2session`` - codes are single-use (40163 on reuse), unknown codes give 40029, a wrong
  AppID/secret 40013/40125; the JSON is labelled ``text/plain`` like the real one; every login returns a
  fresh random ``session_key`` (kept in ``issued_session_keys`` so tests can look for leaks);
* ``POST /cgi-bin/stable_token`` - the same token until it expires or is revoked;
* ``POST /wxa/msg_sec_check`` - v2: ``errcode`` 0 with ``result.suggest`` pass/review/risky decided by word
  lists, 40001/42001 for a revoked/expired token, 43104 for Official Account openids, 40097 over 2500 chars;
* ``POST /cgi-bin/message/custom/send`` - records the push.

Failures are switched on per test: ``code_errors`` (code → errcode, e.g. -1, 45011, 40226), ``slow_codes``,
``sec_check_errcode``, ``sec_check_delay``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40029: "invalid code",
    40097: "invalid args",
    40125: "invalid appsecret",
    40163: "code been used",
    40226: "high risk user",
    41001: "access_token missing",
    42001: "access_token expired",
    43104: "appid not match openid",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
}


@dataclass
class _Token:
    appid: str
    value: str
    expires_at: float
    revoked: bool = False


@dataclass
class FakeWeChat:
    """State and knobs of the fake; the handler reads and records here (guarded by ``lock``)."""

    apps: dict[str, str] = field(default_factory=dict)  # appid -> secret
    risky_words: tuple[str, ...] = ()
    review_words: tuple[str, ...] = ()
    oa_openids: set[str] = field(default_factory=set)
    code_errors: dict[str, int] = field(default_factory=dict)
    slow_codes: dict[str, float] = field(default_factory=dict)
    sec_check_errcode: int | None = None
    sec_check_delay: float = 0.0
    token_ttl: int = 7200

    codes: dict[str, str] = field(default_factory=dict)  # code -> openid
    used_codes: set[str] = field(default_factory=set)
    issued_session_keys: list[str] = field(default_factory=list)
    tokens: dict[str, _Token] = field(default_factory=dict)
    token_fetches: dict[str, int] = field(default_factory=dict)
    sec_checks: list[dict[str, Any]] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    login_errcodes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- knobs for tests ------------------------------------------------------------------------------
    def issue_code(self, openid: str) -> str:
        """What ``wx.login`` would hand the mini-program for this user."""
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = openid
        return code

    def revoke_tokens(self) -> None:
        with self.lock:
            for t in self.tokens.values():
                t.revoked = True

    def expire_tokens(self) -> None:
        with self.lock:
            for t in self.tokens.values():
                t.expires_at = 0.0

    # --- endpoints --------------------------------------------------------------------------------------
    def jscode2session(self, q: dict[str, str]) -> dict[str, Any]:
        appid, secret, code = q.get("appid", ""), q.get("secret", ""), q.get("js_code", "")
        if appid not in self.apps:
            return _err(40013)
        if self.apps[appid] != secret:
            return _err(40125)
        if q.get("grant_type") != "authorization_code":
            return _err(40097)
        delay = self.slow_codes.get(code)
        if delay:
            time.sleep(delay)
        with self.lock:
            if code in self.code_errors:
                out = _err(self.code_errors[code])
            elif code in self.used_codes:
                out = _err(40163)
            elif code not in self.codes:
                out = _err(40029)
            else:
                self.used_codes.add(code)
                session_key = base64.b64encode(secrets.token_bytes(16)).decode()
                self.issued_session_keys.append(session_key)
                out = {"openid": self.codes.pop(code), "session_key": session_key}
            self.login_errcodes.append(int(out.get("errcode", 0)))
        return out

    def stable_token(self, body: dict[str, Any]) -> dict[str, Any]:
        appid, secret = str(body.get("appid", "")), str(body.get("secret", ""))
        if body.get("grant_type") != "client_credential":
            return _err(40097)
        if appid not in self.apps:
            return _err(40013)
        if self.apps[appid] != secret:
            return _err(40125)
        with self.lock:
            self.token_fetches[appid] = self.token_fetches.get(appid, 0) + 1
            current = next((t for t in self.tokens.values() if t.appid == appid), None)
            if current is None or current.revoked or current.expires_at <= time.time() or body.get("force_refresh"):
                current = _Token(appid, secrets.token_urlsafe(32), time.time() + self.token_ttl)
                self.tokens = {k: t for k, t in self.tokens.items() if t.appid != appid}
                self.tokens[current.value] = current
            return {"access_token": current.value, "expires_in": int(current.expires_at - time.time())}

    def _token(self, q: dict[str, str]) -> tuple[_Token | None, dict[str, Any] | None]:
        value = q.get("access_token")
        if not value:
            return None, _err(41001)
        with self.lock:
            t = self.tokens.get(value)
        if t is None or t.revoked:
            return None, _err(40001)
        if t.expires_at <= time.time():
            return None, _err(42001)
        return t, None

    def msg_sec_check(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        token, error = self._token(q)
        if error:
            return error
        if self.sec_check_delay:
            time.sleep(self.sec_check_delay)
        if self.sec_check_errcode is not None:
            return _err(self.sec_check_errcode)
        content, openid = str(body.get("content", "")), str(body.get("openid", ""))
        if body.get("version") != 2 or body.get("scene") not in (1, 2, 3, 4) or not openid:
            return _err(40097)
        if len(content) > 2500:
            return _err(40097)
        if openid in self.oa_openids:
            return _err(43104)
        with self.lock:
            self.sec_checks.append({"appid": token.appid if token else "", **body})
        if any(w in content for w in self.risky_words):
            suggest, label = "risky", 20006
        elif any(w in content for w in self.review_words):
            suggest, label = "review", 21000
        else:
            suggest, label = "pass", 100
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label}],
            "trace_id": secrets.token_hex(8),
        }

    def custom_send(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        token, error = self._token(q)
        if error:
            return error
        if body.get("msgtype") != "text" or not body.get("touser"):
            return _err(40097)
        with self.lock:
            self.pushes.append({"appid": token.appid if token else "", **body})
        return {"errcode": 0, "errmsg": "ok"}


def _err(code: int) -> dict[str, Any]:
    return {"errcode": code, "errmsg": ERRMSG.get(code, "error") + f" rid: {secrets.token_hex(4)}"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeWeChat  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _send(self, data: dict[str, Any], content_type: str = "application/json; encoding=utf-8") -> None:
        raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/sns/jscode2session":
            self._send(self.fake.jscode2session(q), "text/plain")
        else:
            self._send(_err(40097) | {"errmsg": "invalid url"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.fake.lock:
            self.fake.raw_bodies.append(raw)
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            self._send({"errcode": 47001, "errmsg": "data format error"})
            return
        routes = {
            "/cgi-bin/stable_token": lambda: self.fake.stable_token(body),
            "/wxa/msg_sec_check": lambda: self.fake.msg_sec_check(q, body),
            "/cgi-bin/message/custom/send": lambda: self.fake.custom_send(q, body),
        }
        handler = routes.get(url.path)
        self._send(handler() if handler else _err(40097) | {"errmsg": "invalid url"})


class FakeWeChatServer:
    """``with FakeWeChatServer(FakeWeChat(apps={...})) as server: server.url``"""

    def __init__(self, fake: FakeWeChat) -> None:
        self.fake = fake
        handler = type("Handler", (_Handler,), {"fake": fake})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wechat", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeWeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
