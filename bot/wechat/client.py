"""Client for WeChat's server API (``api.weixin.qq.com``): login, access tokens, msgSecCheck, customer service.

One :class:`WeChatClient` per WeChat app (the mini-program and the Official Account have their own AppID,
secret and access token). Every call has a timeout; WeChat's ``errcode`` values and transport failures become
:class:`WeChatError` subclasses with a fitting HTTP status, so the edge can answer ``{code, message}``.

* ``session_key`` from ``jscode2session`` is dropped on arrival: it is never returned, stored or logged.
* The access token comes from the stable-token endpoint (``POST /cgi-bin/stable_token``: the secret travels in
  the body, and every worker gets the same token), is cached and shared by all callers of the client, renewed
  ``_TOKEN_MARGIN`` seconds before it expires and refetched once when WeChat answers 40001/42001.
* httpx logs request URLs at INFO; :class:`_RedactQuery` blanks ``secret``, ``js_code`` and ``access_token``.

Example::

    >>> mini = WeChatClient.for_miniprogram(settings)
    >>> mini.code2session("0a3X…").openid
    'o6zAJs…'
    >>> mini.msg_sec_check("问题", openid="o6zAJs…").suggest
    'pass'
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from bot.config import Settings
from bot.errors import PolicyBotError
from bot.sessions import RateLimited

log = logging.getLogger("policybot.wechat")

Suggest = Literal["pass", "review", "risky"]
SEC_CHECK_MAX_CHARS = 2500
_TOKEN_MARGIN = 300  # renew this many seconds before WeChat's expiry
_TOKEN_INVALID = {40001, 40014, 42001}  # invalid credential, invalid token, token expired


# --- errors ------------------------------------------------------------------------------------------
class WeChatError(PolicyBotError):
    """WeChat answered with an error we cannot turn into a result."""

    code = "wechat_error"
    status = 502

    def __init__(self, message: str, *, errcode: int | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.errcode = errcode


class WeChatCodeInvalid(WeChatError):
    """40029 (invalid code) or 40163 (code already used): call ``wx.login`` again."""

    code = "wechat_code_invalid"
    status = 401


class WeChatUserBlocked(WeChatError):
    """40226: WeChat's risk control blocks this user."""

    code = "wechat_user_blocked"
    status = 403


class WeChatBusy(WeChatError):
    """-1 (system busy), a timeout or a connection error: try again later."""

    code = "wechat_unavailable"
    status = 503


class WeChatRateLimited(RateLimited):
    """45011: WeChat's own frequency limit on this app or user."""

    code = "wechat_rate_limited"


class WeChatNotConfigured(PolicyBotError):
    code = "wechat_not_configured"
    status = 404


# --- results -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WxLogin:
    """What we keep of ``jscode2session``: the user's ids. ``session_key`` is deliberately not a field."""

    openid: str
    unionid: str | None = None

    def __repr__(self) -> str:
        return f"WxLogin(openid={self.openid[:6]}…)"


@dataclass(frozen=True)
class SecCheck:
    suggest: Suggest
    label: int
    trace_id: str = ""


@dataclass
class _Token:
    value: str
    expires_at: float


# --- logging ---------------------------------------------------------------------------------------------
_SECRET_QUERY = re.compile(r"((?:secret|js_code|access_token|appsecret)=)[^&\s\"']+", re.IGNORECASE)


class _RedactQuery(logging.Filter):
    """Blank credentials in the request URLs httpx logs (``HTTP Request: GET …?secret=…``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", str(a)) if _has_secret(a) else a for a in args)
        record.msg = _SECRET_QUERY.sub(r"\1***", str(record.msg))
        return True


def _has_secret(value: object) -> bool:
    return isinstance(value, str | httpx.URL) and _SECRET_QUERY.search(str(value)) is not None


_redactor = _RedactQuery()


def install_log_redaction() -> None:
    """Idempotent: attach the redacting filter to the loggers httpx writes request lines to."""
    logger = logging.getLogger("httpx")  # httpcore's debug lines carry no URL
    if _redactor not in logger.filters:
        logger.addFilter(_redactor)


# --- the client ------------------------------------------------------------------------------------------
class WeChatClient:
    """Thread-safe client for one WeChat app. ``http`` may be injected (tests, connection reuse)."""

    def __init__(
        self,
        base_url: str,
        appid: str,
        secret: str,
        *,
        timeout: float = 5.0,
        http: httpx.Client | None = None,
        token_cache: Any = None,
    ) -> None:
        if not appid or not secret:
            raise WeChatNotConfigured("微信接口未配置", detail="appid/secret missing")
        install_log_redaction()
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self._secret = secret
        self.timeout = timeout
        self._http = http or httpx.Client(timeout=httpx.Timeout(timeout), trust_env=False)
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        self._token_cache = token_cache  # bot.shared.RedisTokenCache: one token for every worker

    @classmethod
    def _for(cls, settings: Settings, appid: str, secret: str) -> WeChatClient:
        cache = None
        if settings.redis_url and appid:
            from bot.shared import RedisTokenCache, SharedState

            cache = RedisTokenCache(SharedState.connect(settings.redis_url), appid)
        return cls(settings.wechat_api_base, appid, secret, timeout=settings.wechat_timeout_seconds, token_cache=cache)

    @classmethod
    def for_miniprogram(cls, settings: Settings) -> WeChatClient:
        secret = settings.wechat_secret.get_secret_value() if settings.wechat_secret else ""
        return cls._for(settings, settings.wechat_appid, secret)

    @classmethod
    def for_official_account(cls, settings: Settings) -> WeChatClient:
        secret = settings.mp_secret.get_secret_value() if settings.mp_secret else ""
        return cls._for(settings, settings.mp_appid, secret)

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"WeChatClient(base_url={self.base_url!r}, appid={self.appid!r})"

    # --- transport -----------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One request; the decoded JSON object. Transport trouble is :class:`WeChatBusy`, never a raw error."""
        # WeChat reads raw UTF-8: with \\uXXXX escapes msgSecCheck sees no Chinese and pushed texts show escapes
        content = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
        try:
            response = self._http.request(
                method,
                self.base_url + path,
                params=params,
                content=content,
                headers=headers,
                timeout=timeout or self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise WeChatBusy("微信服务响应超时，请稍后再试", detail=f"{path}: timeout") from exc
        except httpx.HTTPError as exc:
            raise WeChatBusy("暂时连不上微信服务，请稍后再试", detail=f"{path}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise WeChatBusy("微信服务暂时不可用，请稍后再试", detail=f"{path}: HTTP {response.status_code}")
        try:
            # jscode2session answers JSON labelled text/plain: decode by content, not by header
            data = json.loads(response.content)
        except ValueError as exc:
            raise WeChatError("微信服务返回了无法识别的内容", detail=f"{path}: HTTP {response.status_code}") from exc
        if not isinstance(data, dict):
            raise WeChatError("微信服务返回了无法识别的内容", detail=f"{path}: not an object")
        return data

    @staticmethod
    def _errcode(data: dict[str, Any]) -> int:
        try:
            return int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            return -2

    @staticmethod
    def _raise_common(errcode: int, data: dict[str, Any], path: str) -> None:
        detail = f"{path}: errcode {errcode} {str(data.get('errmsg', ''))[:80]}"
        if errcode == -1:
            raise WeChatBusy("微信服务繁忙，请稍后再试", errcode=errcode, detail=detail)
        if errcode == 45011:
            raise WeChatRateLimited("请求太频繁了，请稍后再试", retry_after=60)
        raise WeChatError("微信服务返回错误，请稍后再试", errcode=errcode, detail=detail)

    # --- login ---------------------------------------------------------------------------------------
    def code2session(self, code: str) -> WxLogin:
        """Exchange a ``wx.login`` code for the user's openid. Each code works once, for five minutes."""
        path = "/sns/jscode2session"
        data = self._call(
            "GET",
            path,
            params={"appid": self.appid, "secret": self._secret, "js_code": code, "grant_type": "authorization_code"},
        )
        data.pop("session_key", None)  # not needed (no encrypted user data is decrypted): never kept
        errcode = self._errcode(data)
        if errcode in (40029, 40163):
            raise WeChatCodeInvalid("登录凭证无效或已使用，请重新登录", errcode=errcode, detail=f"errcode {errcode}")
        if errcode == 40226:
            raise WeChatUserBlocked("该微信账号暂时无法登录", errcode=errcode, detail="errcode 40226")
        if errcode:
            self._raise_common(errcode, data, path)
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatError("微信服务返回了无法识别的内容", detail=f"{path}: no openid")
        unionid = data.get("unionid")
        return WxLogin(openid=openid, unionid=unionid if isinstance(unionid, str) else None)

    # --- access token --------------------------------------------------------------------------------
    def access_token(self) -> str:
        """The app's access token: fetched once, shared by all callers, renewed before it expires. With Redis
        every worker shares it and only one refreshes at a time (the others wait for its result)."""
        if self._token_cache is not None:
            return self._shared_token()
        token = self._token
        if token is not None and token.expires_at > time.monotonic():
            return token.value
        with self._token_lock:
            token = self._token
            if token is not None and token.expires_at > time.monotonic():
                return token.value
            self._token = self._fetch_token()
            return self._token.value

    def _shared_token(self) -> str:
        cache = self._token_cache
        try:
            value = cache.get()
            if value:
                return str(value)
            with cache.refresh_lock():
                value = cache.get()
                if value:
                    return str(value)
                token = self._fetch_token()
                cache.put(token.value, int(token.expires_at - time.monotonic()))
                return token.value
        except PolicyBotError:
            raise
        except Exception as exc:  # Redis down or the lock not had in time
            raise WeChatBusy("微信服务暂时不可用，请稍后再试", detail=f"shared token: {type(exc).__name__}") from exc

    def invalidate_token(self, stale: str) -> None:
        """Forget ``stale`` (rejected by WeChat); a newer token fetched meanwhile by another thread stays."""
        if self._token_cache is not None:
            try:
                self._token_cache.invalidate(stale)
            except Exception as exc:
                log.warning("shared token not invalidated: %s", type(exc).__name__)
        with self._token_lock:
            if self._token is not None and self._token.value == stale:
                self._token = None

    def _fetch_token(self) -> _Token:
        path = "/cgi-bin/stable_token"
        data = self._call(
            "POST",
            path,
            body={"grant_type": "client_credential", "appid": self.appid, "secret": self._secret},
        )
        errcode = self._errcode(data)
        if errcode:
            self._raise_common(errcode, data, path)
        value = data.get("access_token")
        if not isinstance(value, str) or not value:
            raise WeChatError("微信服务返回了无法识别的内容", detail=f"{path}: no access_token")
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        log.info("wechat access token fetched for %s (expires in %ss)", self.appid, expires_in)
        return _Token(value, time.monotonic() + max(expires_in - _TOKEN_MARGIN, expires_in // 2))

    def _with_token(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """POST with the access token; on 40001/42001 fetch a fresh token and try exactly once more."""
        for attempt in (1, 2):
            token = self.access_token()
            data = self._call("POST", path, params={"access_token": token}, body=body, timeout=timeout)
            if self._errcode(data) in _TOKEN_INVALID and attempt == 1:
                log.info("wechat access token rejected (errcode %s): refetching", self._errcode(data))
                self.invalidate_token(token)
                continue
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    # --- content security ----------------------------------------------------------------------------
    def msg_sec_check(self, content: str, *, openid: str, scene: int = 2, timeout: float | None = None) -> SecCheck:
        """msgSecCheck v2 on up to 2500 characters. ``errcode`` is 0 even for a violation: read ``suggest``."""
        path = "/wxa/msg_sec_check"
        body = {"content": content[:SEC_CHECK_MAX_CHARS], "version": 2, "scene": scene, "openid": openid}
        data = self._with_token(path, body, timeout)
        errcode = self._errcode(data)
        if errcode:
            self._raise_common(errcode, data, path)
        result = data.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in ("pass", "review", "risky"):
            raise WeChatError("微信内容安全接口返回了无法识别的内容", detail=f"{path}: suggest {suggest!r}")
        label = result.get("label", 100) if isinstance(result, dict) else 100
        return SecCheck(
            suggest=suggest,
            label=int(label) if isinstance(label, int | str) and str(label).isdigit() else 100,
            trace_id=str(data.get("trace_id", "")),
        )

    # --- customer-service message --------------------------------------------------------------------
    def send_text(self, openid: str, content: str) -> None:
        """Push a text to a user who wrote to the Official Account in the last 48 hours."""
        path = "/cgi-bin/message/custom/send"
        data = self._with_token(path, {"touser": openid, "msgtype": "text", "text": {"content": content}})
        errcode = self._errcode(data)
        if errcode:
            self._raise_common(errcode, data, path)
