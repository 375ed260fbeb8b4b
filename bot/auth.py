"""Mini-program login: ``wx.login`` code → ``jscode2session`` → our own signed, expiring token for the openid.

The token is a JWT (PyJWT, HS256) with ``sub`` = openid, ``aud`` = the mini-program AppID, ``iss`` = policybot
and ``exp``. The signing key is HMAC-SHA256 of ``auth_token_secret`` (or, unset, of the AppSecret) with a fixed
label, so every worker derives the same 32-byte key and rotating either secret logs everyone out.
``session_key`` never reaches this module (:meth:`bot.wechat.client.WeChatClient.code2session` drops it).

Without AppID and secret the service runs anonymously: :meth:`WeChatAuth.user` ignores any token.

Example::

    >>> auth = WeChatAuth(settings)
    >>> t = auth.login("0a3X…")            # LoginToken(token='eyJ…', expires_in=7200)
    >>> auth.user(f"Bearer {t.token}")     # 'o6zAJs…'
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import jwt
from pydantic import BaseModel, Field

from bot.config import Settings
from bot.errors import PolicyBotError
from bot.wechat.client import WeChatClient, WeChatNotConfigured

log = logging.getLogger("policybot.auth")

_KEY_LABEL = b"policybot/login-token/v1"
_ALGORITHM = "HS256"
_ISSUER = "policybot"


class Unauthorized(PolicyBotError):
    code = "unauthorized"
    status = 401


class InvalidToken(Unauthorized):
    code = "invalid_token"


class TokenExpired(Unauthorized):
    code = "token_expired"


class LoginRequired(Unauthorized):
    code = "login_required"


class LoginToken(BaseModel):
    token: str = Field(description="放在 Authorization: Bearer <token> 请求头里")
    expires_in: int = Field(description="有效期（秒）；过期后重新 wx.login")


class TokenSigner:
    """Issues and verifies our tokens. Pure: no I/O."""

    def __init__(self, key: bytes, audience: str, ttl_seconds: int) -> None:
        self._key = hmac.new(key, _KEY_LABEL, hashlib.sha256).digest()
        self.audience = audience
        self.ttl = ttl_seconds

    def issue(self, openid: str, now: float | None = None) -> LoginToken:
        iat = int(now if now is not None else time.time())
        claims = {"sub": openid, "aud": self.audience, "iss": _ISSUER, "iat": iat, "exp": iat + self.ttl}
        return LoginToken(token=jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires_in=self.ttl)

    def verify(self, token: str) -> str:
        """The openid the token was issued for, or :class:`TokenExpired` / :class:`InvalidToken`."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=_ISSUER,
                options={"require": ["sub", "exp", "iat", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("登录已过期，请重新登录") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("登录凭证无效，请重新登录", detail=type(exc).__name__) from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("登录凭证无效，请重新登录", detail="no subject")
        return sub


class WeChatAuth:
    """Login and request attribution for the mini-program. ``enabled`` only with AppID and secret set."""

    def __init__(self, settings: Settings, client: WeChatClient | None = None) -> None:
        self.enabled = bool(settings.wechat_appid and settings.wechat_secret)
        self.allow_anonymous = settings.auth_allow_anonymous
        self._client = client
        self.signer: TokenSigner | None = None
        if self.enabled:
            assert settings.wechat_secret is not None
            secret = settings.auth_token_secret or settings.wechat_secret
            self.signer = TokenSigner(
                secret.get_secret_value().encode("utf-8"), settings.wechat_appid, settings.auth_token_ttl_seconds
            )
            self._client = client or WeChatClient.for_miniprogram(settings)

    def login(self, code: str) -> LoginToken:
        if self.signer is None or self._client is None:
            raise WeChatNotConfigured("未启用微信登录")
        who = self._client.code2session(code)
        log.info("wechat login ok for user %s", user_tag(who.openid))
        return self.signer.issue(who.openid)

    def user(self, authorization: str | None) -> str | None:
        """The openid a request is attributed to; None = anonymous (allowed only when login is off/optional)."""
        if self.signer is None:
            return None  # anonymous service: tokens are neither required nor read
        scheme, _, token = (authorization or "").strip().partition(" ")
        if not authorization or not authorization.strip():
            if self.allow_anonymous:
                return None
            raise LoginRequired("请先登录")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("登录凭证无效，请重新登录", detail="not a bearer token")
        return self.signer.verify(token.strip())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def user_tag(openid: str | None) -> str:
    """A short, stable, non-reversible tag of an openid for log lines."""
    if not openid:
        return "-"
    return hashlib.sha256(openid.encode("utf-8")).hexdigest()[:10]
