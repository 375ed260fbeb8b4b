"""HTTP edge of the WeChat channels: ``POST /v1/auth/wechat``, ``GET/POST /wechat/mp`` and the bearer-token
dependency of the answering endpoints. Thin: every decision is in :mod:`bot.auth` and :mod:`bot.wechat.mp`.

``bot.api.create_app`` calls :func:`install_wechat` and adds :data:`CurrentUser` to ``/v1/ask``,
``/v1/ask/stream`` and ``/v1/feedback``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.auth import LoginToken, WeChatAuth
from bot.config import Settings
from bot.service import ChatService
from bot.wechat.client import WeChatNotConfigured
from bot.wechat.mp import OfficialAccount


class WeChatLoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"code": "0a3Xyz…"}]})
    code: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", description="wx.login 返回的 code")


@dataclass
class WeChatChannels:
    auth: WeChatAuth
    mp: OfficialAccount | None

    def close(self) -> None:
        self.auth.close()
        if self.mp is not None:
            self.mp.close()


def _channels(request: Request) -> WeChatChannels:
    channels: WeChatChannels = request.app.state.wechat
    return channels


def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The openid of a logged-in mini-program user; None = anonymous. Bad or expired token: 401."""
    return _channels(request).auth.user(authorization)


CurrentUser = Annotated[str | None, Depends(current_user)]

router = APIRouter()
_AUTH_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "code 无效或已使用（重新 wx.login）"},
    403: {"description": "微信风控拦截该用户"},
    404: {"description": "未配置小程序 AppID/AppSecret"},
    429: {"description": "微信登录接口限频"},
    503: {"description": "微信服务繁忙或超时"},
}


@router.post("/v1/auth/wechat", response_model=LoginToken, responses=_AUTH_ERRORS, tags=["登录"], summary="小程序登录")
def wechat_login(body: WeChatLoginRequest, request: Request) -> LoginToken:
    return _channels(request).auth.login(body.code)


def _mp(request: Request) -> OfficialAccount:
    mp = _channels(request).mp
    if mp is None:
        raise WeChatNotConfigured("未启用公众号消息接口")
    return mp


_MP_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "XML 不合法或不安全"},
    403: {
        "description": "`invalid_signature` 签名校验失败或未加密；`request_expired` 时间戳超出窗口；"
        "`request_replayed` 同一 timestamp+nonce 换了消息体"
    },
    413: {"description": "`payload_too_large` 消息体太长"},
    404: {"description": "未启用公众号消息接口"},
}


@router.get(
    "/wechat/mp", response_class=PlainTextResponse, responses=_MP_ERRORS, tags=["公众号"], summary="服务器地址校验"
)
def mp_verify(
    request: Request, signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = ""
) -> PlainTextResponse:
    return PlainTextResponse(_mp(request).verify_url(signature, timestamp, nonce, echostr))


@router.post("/wechat/mp", responses=_MP_ERRORS, tags=["公众号"], summary="接收公众号消息（被动回复）")
async def mp_message(
    request: Request,
    signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    encrypt_type: str = "",
    msg_signature: str = "",
    openid: str = "",
) -> Response:
    mp = _mp(request)
    body = await request.body()
    reply = await run_in_threadpool(
        mp.handle,
        body,
        signature=signature,
        timestamp=timestamp,
        nonce=nonce,
        encrypt_type=encrypt_type,
        msg_signature=msg_signature,
        openid=openid,
    )
    return Response(reply.body, media_type=reply.media_type)


def install_wechat(app: FastAPI, settings: Settings, service: ChatService) -> WeChatChannels:
    """Create the channels from settings, keep them on ``app.state.wechat`` and add the routes."""
    mp = OfficialAccount(settings, service) if settings.mp_token and settings.mp_token.get_secret_value() else None
    channels = WeChatChannels(auth=WeChatAuth(settings), mp=mp)
    app.state.wechat = channels
    app.include_router(router)
    return channels
