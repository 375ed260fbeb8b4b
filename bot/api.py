"""HTTP API (FastAPI): translates HTTP into :class:`bot.service.ChatService` calls and results into JSON.

Contract (shared/DESIGN.md): ``POST /v1/ask``, ``POST /v1/ask/stream`` (SSE, ASCII-only frames for WeChat's
chunked ``wx.request``; with the optional LLM also a ``replace`` frame, see :func:`explained_frames`),
browsing endpoints, ``POST /v1/feedback``, ``/healthz``, ``/readyz`` and the admin
reindex. Every error is ``{"code", "message"}`` with a fitting status; nothing here knows policy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing, asynccontextmanager
from typing import Annotated, Any, NamedTuple

import swagger_ui_bundle
from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.answer import Answer
from bot.api_documents import PREFIX as DOCUMENTS_PREFIX
from bot.api_documents import documents_router
from bot.config import Settings, get_settings
from bot.errors import PolicyBotError
from bot.llm import Fallback, Sentence, StreamEvent
from bot.logs import install_logging
from bot.privacy import clean_text
from bot.service import (
    ChatService,
    CityInfo,
    DocumentInfo,
    IndexStatus,
    MeasureInfo,
    OfficeInfo,
    SectionInfo,
)
from bot.wechat.routes import CurrentUser, install_wechat

log = logging.getLogger("policybot.api")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Swagger UI needs its inline start-up script; its JS and CSS come from the swagger-ui-bundle package, same origin
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
DOCS_ASSETS = "/docs/assets"
SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# lone surrogates ("\ud800" in JSON) are dropped before anything else sees the text
CleanStr = Annotated[str, AfterValidator(clean_text)]


# --- request and response models -------------------------------------------------------------------
class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"question": "我们厂搞智能化改造，多出来的工人怎么安置？", "city": "苏州"}]},
    )
    question: CleanStr = Field(
        description="市民的问题（简体、繁体或英文）；超过上限字数答 413 question_too_long",
        examples=["外卖骑手送餐摔伤了有保障吗"],
    )
    session_id: str | None = Field(None, pattern=SESSION_ID_PATTERN, description="上一轮返回的会话 id，用于追问")
    city: CleanStr | None = Field(None, max_length=20, description="设区市，例如 苏州", examples=["苏州"])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"message_id": "5f0c…", "helpful": True, "comment": "说得很清楚"}]},
    )
    message_id: str = Field(min_length=1, max_length=64, description="回答里的 message_id")
    helpful: bool = Field(description="有帮助 / 没帮助")
    comment: CleanStr | None = Field(None, max_length=500, description="补充意见（可选）；个人信息存储前打码")


class FeedbackResponse(BaseModel):
    ok: bool = Field(True, description="已保存（落盘后才返回 201）")
    id: int = Field(description="反馈编号")


class ErrorBody(BaseModel):
    code: str = Field(description="稳定的机器可读错误码", examples=["question_too_long"])
    message: str = Field(description="给市民看的中文说明", examples=["问题太长了，请控制在500字以内"])


class Health(BaseModel):
    status: str = Field(description="ok")


class Ready(BaseModel):
    ready: bool = Field(description="索引已加载、磁盘上的索引完好、存储正常")
    detail: str = Field(description="索引版本；重建失败、跳过的文件、存储状态")


class ReindexAccepted(BaseModel):
    started: bool = Field(description="false：已有重建在进行")
    status: IndexStatus


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("`invalid_json` 请求不是合法的 JSON；`bad_request` 请求头不正确"),
    408: _err("`request_timeout` 请求体没有在时限内传完"),
    413: _err("`payload_too_large` 请求体太长"),
    422: _err("`invalid_request` 参数类型或格式不正确"),
}
ASK_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: _err("`invalid_token` / `token_expired` / `login_required`（配置了小程序登录时）"),
    413: _err("`question_too_long` 问题超过字数上限；`payload_too_large` 请求体太长"),
    422: _err("`empty_question` 空问题；`unknown_city` 不是江苏13个设区市之一；`invalid_request` 参数不正确"),
    429: _err("`rate_limited` 请求太频繁（长问题按长度计），见 Retry-After"),
    503: _err("`busy` 服务繁忙（同时处理的问题已满），`not_ready` 服务正在启动；均见 Retry-After"),
}
FEEDBACK_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: ASK_ERRORS[401],
    404: _err("`not_found` 未知的 message_id"),
    429: _err("`rate_limited` 评价太频繁；`feedback_limit_reached` 这条回答的评价已达上限"),
    503: _err("`storage_unavailable` 存储不可用或已损坏（不会假装保存成功），见 Retry-After"),
}
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _err("`unauthorized` 缺少或错误的管理令牌"),
    404: _err("`admin_disabled` 未配置 POLICYBOT_ADMIN_TOKEN"),
}
ERRORS = ASK_ERRORS  # kept for importers

# descriptions of the answer's fields in the OpenAPI schema (the models live in the answering core)
FIELD_DOCS: dict[str, dict[str, str]] = {
    "Answer": {
        "answer": "回答全文（纯文本，含换行）：适用的措施、原文引用、责任单位、办理去处、出处",
        "in_scope": "政策文件是否覆盖这个问题；false 时 answer 说明不覆盖并指向 12333 或所在市人社局",
        "citations": "引用的措施，第一条是适用的措施；不覆盖时为空",
        "offices": "引用措施的责任单位，按原文顺序",
        "session_id": "会话 id：追问时带上",
        "message_id": "本条回答的 id：评价时带上",
        "city": "本轮识别到的设区市（来自请求或问题）",
        "bureau": "该市人力资源和社会保障局的名称",
        "hotline": "人社服务热线（12333）",
        "reason": "判定依据：evidence、followup、office、city、topic:…、region:…、low_relevance…",
        "sources": "所引政策文件：标题、发文单位、日期",
        "ai_generated": "是否由生成模型写成；本服务的回答由模板和原文组成，恒为 false",
    },
    "Citation": {
        "doc": "政策文件 id（文件名）",
        "measure": "措施序号（1 起）",
        "label": "措施编号，与原文一致，如（七）",
        "cited": "引用时的写法，如 第（七）条、第三条、第十二条",
        "title": "措施所在章节的标题，与原文一致",
        "quote": "原文引用：措施中回答问题的 1-3 句，一字不改",
        "score": "检索相关度（越大越相关，仅供排序）",
        "doc_title": "政策文件标题",
    },
    "OfficeRef": {
        "name": "责任单位简称，与原文一致",
        "full_name": "经公开来源核实的全称；未核实为 null",
        "kind": "单位类型（处室、直属单位、其他部门）",
        "measure": "该单位负责的措施序号",
        "full_name_unconfirmed": "可能的全称（未核实）",
        "handles": "该单位主管的事项",
    },
    "SourceRef": {"doc": "政策文件 id", "title": "标题", "issuer": "发文单位", "date": "发文日期"},
}
# One Server-Sent Event as a client's parser yields it (OpenAPI before 3.2: `schema` describes each event).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string", "description": "恒为 message"},
        "data": {"type": "string", "description": "一帧 JSON（meta、delta、end），最后一帧为 [DONE]"},
        "id": {"type": "string"},
    },
}
STREAM_DESCRIPTION = (
    "与 /v1/ask 相同的回答，以 Server-Sent Events 推送，每帧 `data: <JSON>\\n\\n`，JSON 全部为 ASCII"
    "（中文用 \\uXXXX 转义，任意切分都不会截断字符）。帧的顺序固定：\n\n"
    '1. `meta` 一帧：`{"type": "meta", …}`，即 Answer 除 answer 以外的全部字段（citations、offices、session_id、'
    "message_id …）；\n"
    '2. `delta` 若干帧：`{"type": "delta", "text": "…"}`，按顺序拼接即 answer 全文；\n'
    '3. `end` 一帧：`{"type": "end", "message_id": "…"}`；\n'
    "4. 最后 `data: [DONE]`。\n\n"
    "配置了可选的大模型解读时，`meta` 可带 `ai_generated: true`（此时 `lead` 为空，客户端整段显示并标注“AI生成”）；"
    '之后可能出现一帧 `{"type": "replace", "text": "…", "lead": "…", "ai_generated": false, "fallback": "…"}`：'
    "丢弃已显示的文字，改为显示 `text`（确定性回答）。\n\n"
    "出错时不开始推送，直接返回对应状态码的 JSON `{code, message}`。响应头 `X-Accel-Buffering: no`。"
)


# --- error translation -----------------------------------------------------------------------------
def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PolicyBotError)
    retry_after = getattr(exc, "retry_after", None)  # rate limits, not ready yet
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    if exc.status >= 500:
        log.warning("%s on %s: %s", exc.code, request.url.path, exc.detail)
    return error_response(exc.status, exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") in ("json_invalid", "value_error.jsondecode") for e in errors):
        return error_response(400, "invalid_json", "请求不是合法的 JSON")
    if any(
        e.get("type") == "missing" and tuple(e.get("loc", ()))[:1] == ("body",) and len(e["loc"]) == 1 for e in errors
    ):
        return error_response(422, "invalid_request", "请求内容不能为空")
    fields = "、".join(str(e.get("loc", ["?"])[-1]) for e in errors[:3])
    return error_response(422, "invalid_request", f"请求参数不正确：{fields}")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        400: ("invalid_json", "请求不是合法的 JSON"),
        404: ("not_found", "没有这个地址"),
        405: ("method_not_allowed", "不支持这种请求方法"),
    }
    code, message = codes.get(exc.status_code, ("http_error", "请求无法处理"))
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return error_response(500, "internal_error", "服务暂时出错了，请稍后再试")


# --- middleware --------------------------------------------------------------------------------------
class SecurityHeaders:
    """Security headers on every response, whichever layer made it (413s, CORS preflights, 404s…)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] == "/docs" or scope["path"].startswith("/docs/") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyRule(NamedTuple):
    """The largest body a path accepts (bytes) and how long it may take to arrive (seconds)."""

    limit: int
    timeout: float


class BodyLimit:
    """Read the whole request body first (at most ``limit`` bytes, within ``timeout`` seconds), then hand it
    to the app. Over the limit - declared or streamed chunked - is 413, too slow is 408, a bad
    Content-Length is 400: all JSON, before any parsing, so no inner layer ever sees a partial body.
    ``overrides`` maps path prefixes to their own :class:`BodyRule` (document uploads)."""

    def __init__(
        self, app: ASGIApp, limit: int, timeout: float = 10.0, overrides: dict[str, BodyRule] | None = None
    ) -> None:
        self.app = app
        self.rule = BodyRule(limit, timeout)
        self.overrides = overrides or {}

    def rule_for(self, path: str) -> BodyRule:
        return next((r for prefix, r in self.overrides.items() if path.startswith(prefix)), self.rule)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, timeout = self.rule_for(scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length")
        too_big = error_response(413, "payload_too_large", "请求内容太长了")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await too_big(scope, receive, send)
                    return
            except ValueError:
                await error_response(400, "bad_request", "请求头不正确")(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left: nobody to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await too_big(scope, receive, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await error_response(408, "request_timeout", "请求发送太慢，请重试", {"Connection": "close"})(
                scope, receive, send
            )
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: http.disconnect, for streaming responses

        await self.app(scope, replay, send)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling; a refused preflight is a JSON ``{code, message}`` like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code >= 400:
            refused = error_response(400, "cors_refused", "不允许的跨域请求")
            for k in ("vary", "access-control-allow-methods", "access-control-max-age"):
                if k in response.headers:
                    refused.headers[k] = response.headers[k]
            return refused
        return response


class InFlightLimit:
    """Back-pressure: at most ``limit`` answers computed at once by this worker. Past it the request is
    answered 503 ``busy`` with ``Retry-After: 1`` at once (no queueing for seconds); the page and the
    mini-program show a calm 稍后再试."""

    def __init__(self, app: ASGIApp, limit: int, paths: tuple[str, ...] = ("/v1/ask",)) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths
        self.in_flight = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            busy = error_response(503, "busy", "服务繁忙，请稍后再试", {"Retry-After": "1"})
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def client_address(
    peer: str, forwarded_for: list[str], proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> str:
    """The client a request is counted against: the socket's address, unless it is a trusted proxy - then the
    right-most ``X-Forwarded-For`` entry that is not a trusted proxy (entries further left are whatever the
    client wrote, so a spoofed entry changes nothing)."""

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in proxies)

    if not proxies or not trusted(peer):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop[:64]
    return peer


# --- SSE -----------------------------------------------------------------------------------------------
def sse(payload: object) -> bytes:
    """One SSE frame; ``ensure_ascii`` makes every byte ASCII so split chunks never cut a character."""
    return b"data: " + json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n\n"


async def stream_frames(answer: Answer) -> AsyncIterator[bytes]:
    """First the citations and offices, then the answer text line by line, then ``[DONE]``.

    Asynchronous on purpose: the answer is already computed, so the frames go out from the event loop
    without a thread hop each, and a client that disconnects just stops the iteration.
    """
    meta = answer.model_dump(exclude={"answer"})
    yield sse({"type": "meta", **meta})
    lines = answer.answer.split("\n")
    for i, line in enumerate(lines):
        yield sse({"type": "delta", "text": line + ("\n" if i < len(lines) - 1 else "")})
    yield sse({"type": "end", "message_id": answer.message_id})
    yield b"data: [DONE]\n\n"


async def explained_frames(answer: Answer, events: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[bytes]:
    """The stream of an answer the LLM explains (``llm_stream_mode=sentence``), guarded sentence by sentence.

    * Nothing is sent until the first sentence has passed the guard. If the explanation fails before that
      (timeout, endpoint error, a violation in the first sentence), the frames are exactly those of the
      deterministic answer (``ai_generated: false``): the client sees no difference.
    * Otherwise ``meta`` carries ``ai_generated: true`` and an empty ``lead`` (a generated reply has no lead
      in the notice's words: clients show the whole text), and each ``delta`` is one checked sentence.
    * A later failure sends ``{"type": "replace", "text": <the deterministic answer>, "lead": <its lead>,
      "ai_generated": false, "fallback": <reason>}``: the client drops the text shown so far and shows
      ``text`` instead. No unchecked token is ever sent; what was shown before the replace had passed the guard.
    * ``end`` repeats the final ``ai_generated``.
    """
    async with aclosing(events) as stream:
        first = await anext(stream, None)
        if not isinstance(first, Sentence):
            async for frame in stream_frames(answer):
                yield frame
            return
        yield sse({"type": "meta", **answer.model_dump(exclude={"answer"}), "lead": "", "ai_generated": True})
        yield sse({"type": "delta", "text": first.text})
        generated = True
        async for event in stream:
            if isinstance(event, Sentence):
                yield sse({"type": "delta", "text": event.text})
            elif isinstance(event, Fallback):
                e = event.explanation
                yield sse(
                    {
                        "type": "replace",
                        "text": e.text,
                        "lead": answer.lead,
                        "ai_generated": False,
                        "fallback": e.fallback_reason,
                    }
                )
                generated = False
                break
            else:
                break
    yield sse({"type": "end", "message_id": answer.message_id, "ai_generated": generated})
    yield b"data: [DONE]\n\n"


async def buffered_frames(whole: Awaitable[Answer]) -> AsyncIterator[bytes]:
    """``llm_stream_mode=buffered``: the whole explanation is checked before the first frame."""
    async for frame in stream_frames(await whole):
        yield frame


# --- dependencies ----------------------------------------------------------------------------------
def get_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.service
    return service


admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminToken", description="Authorization: Bearer $POLICYBOT_ADMIN_TOKEN"
)


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)] = None
) -> None:
    """Bearer token from settings; none configured disables the admin endpoints (404)."""
    settings: Settings = request.app.state.settings
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        raise _AdminDisabled("管理接口未启用")
    given = credentials.credentials.strip() if credentials else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise _Unauthorized("需要有效的管理令牌")


Svc = Annotated[ChatService, Depends(get_service)]
Admin = Annotated[None, Depends(require_admin)]


# --- the app -------------------------------------------------------------------------------------------
def create_app(settings: Settings | None = None, service: ChatService | None = None) -> FastAPI:
    settings = settings or get_settings()
    svc = service or ChatService(settings)

    install_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def start() -> None:
            if not svc.ready:
                svc.load()
            svc.start_background()

        # load in the background: /healthz answers at once, /readyz says 503 until the index is in
        threading.Thread(target=start, name="load-index", daemon=True).start()
        yield
        svc.stop_background()
        svc.store.close()
        if svc.explainer is not None:
            svc.explainer.close()
        app.state.wechat.close()

    app = FastAPI(
        title="江苏人社政策问答 API",
        description="根据江苏省人社厅发布的政策文件回答问题：引用原文、列出责任单位、指引到所在设区市人社局或 12333。",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = svc
    app.state.settings = settings
    app.add_exception_handler(PolicyBotError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    install_wechat(app, settings, svc)  # /v1/auth/wechat, /wechat/mp, app.state.wechat

    if settings.cors_origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
            max_age=600,
        )
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight)
    # uploads of documents carry a multipart body up to max_upload_bytes (+ 64 KiB of form overhead)
    upload = BodyRule(settings.max_upload_bytes + 65_536, settings.upload_timeout_seconds)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
        overrides={DOCUMENTS_PREFIX: upload},
    )
    app.add_middleware(SecurityHeaders)  # outermost: every response gets the headers

    # /docs without a CDN: Swagger UI's files from the swagger-ui-bundle package, served by the app itself
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - 文档",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.get("components", {}).get("schemas", {})
            for model, docs_of in FIELD_DOCS.items():
                for name, prop in components.get(model, {}).get("properties", {}).items():
                    if name in docs_of and "description" not in prop:
                        prop["description"] = docs_of[name]
            question = components.get("AskRequest", {}).get("properties", {}).get("question")
            if question is not None:
                question["maxLength"] = settings.max_question_chars
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    proxies = settings.proxy_networks

    def client_of(request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)

    @app.post("/v1/ask", response_model=Answer, responses=ASK_ERRORS, tags=["问答"], summary="提问（一次性返回）")
    def ask(body: AskRequest, request: Request, service: Svc, user: CurrentUser) -> Answer:
        return service.ask(
            body.question, session_id=body.session_id, city=body.city, client=client_of(request), user=user
        )

    @app.post(
        "/v1/ask/stream",
        responses={
            **ASK_ERRORS,
            200: {
                "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
                "description": "SSE 帧：meta、delta…、end、[DONE]",
            },
        },
        tags=["问答"],
        summary="提问（SSE 流式返回）",
        description=STREAM_DESCRIPTION,
        response_class=StreamingResponse,
    )
    def ask_stream(body: AskRequest, request: Request, service: Svc, user: CurrentUser) -> StreamingResponse:
        answer, grounding = service.ask_for_stream(
            body.question, session_id=body.session_id, city=body.city, client=client_of(request), user=user
        )
        if grounding is None:
            frames = stream_frames(answer)
        elif settings.llm_stream_mode == "buffered":
            frames = buffered_frames(service.explain_whole(answer, grounding, user))
        else:
            frames = explained_frames(answer, service.explain_stream(answer, grounding, user))
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
        )

    @app.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackResponse,
        responses=FEEDBACK_ERRORS,
        tags=["反馈"],
        summary="对回答评价：有帮助 / 没帮助",
    )
    def feedback(body: FeedbackRequest, request: Request, service: Svc, user: CurrentUser) -> FeedbackResponse:
        return FeedbackResponse(
            id=service.feedback(body.message_id, body.helpful, body.comment, user, client=client_of(request))
        )

    @app.get("/v1/documents", response_model=list[DocumentInfo], tags=["浏览"], summary="收录的政策文件")
    def documents(service: Svc) -> list[DocumentInfo]:
        return service.documents()

    @app.get(
        "/v1/measures",
        response_model=list[SectionInfo],
        tags=["浏览"],
        summary="全部措施（按章节，含责任单位）",
    )
    def measures(service: Svc) -> list[SectionInfo]:
        return service.measures()

    @app.get(
        "/v1/measures/{doc}/{number}",
        response_model=MeasureInfo,
        responses={404: _err("`not_found` 没有这条措施"), 422: _err("`invalid_request` 参数不正确")},
        tags=["浏览"],
        summary="单条措施",
    )
    def measure(
        service: Svc,
        doc: Annotated[str, Path(max_length=120, examples=["jiangsu-hrss-digital-economy-measures-2022"])],
        number: Annotated[int, Path(ge=1, le=999, examples=[7])],
    ) -> MeasureInfo:
        return service.measure(doc, number)

    @app.get("/v1/offices", response_model=list[OfficeInfo], tags=["浏览"], summary="责任单位名录")
    def offices(service: Svc) -> list[OfficeInfo]:
        return service.offices()

    @app.get("/v1/cities", response_model=list[CityInfo], tags=["浏览"], summary="13个设区市及其人社局")
    def cities(service: Svc) -> list[CityInfo]:
        return service.cities()

    @app.get("/healthz", response_model=Health, tags=["运维"], summary="进程存活")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Ready,
        responses={503: _err("`not_ready` 索引未加载、磁盘上的索引损坏或存储损坏；detail 说明原因，见 Retry-After")},
        tags=["运维"],
        summary="就绪：索引已加载、存储正常（只检查，不触发重建）",
    )
    def readyz(service: Svc) -> Response:
        ready, detail = service.readiness()
        if ready:
            return JSONResponse(Ready(ready=True, detail=detail).model_dump())
        return JSONResponse(
            {"code": "not_ready", "message": "服务正在启动，请稍后再试", "detail": detail},
            503,
            headers={"Retry-After": "5"},
        )

    @app.post(
        "/v1/admin/reindex",
        status_code=202,
        response_model=ReindexAccepted,
        responses=ADMIN_ERRORS,
        tags=["管理"],
        summary="后台重建索引并原子切换",
    )
    def reindex(_: Admin, service: Svc) -> ReindexAccepted:
        started = service.start_reindex(trigger="admin")
        return ReindexAccepted(started=started, status=service.status())

    @app.get(
        "/v1/admin/status",
        response_model=IndexStatus,
        responses=ADMIN_ERRORS,
        tags=["管理"],
        summary="索引版本、重建状态（失败原因、下次重试）、跳过的文件、存储状态",
    )
    def admin_status(_: Admin, service: Svc) -> IndexStatus:
        return service.status()

    app.include_router(documents_router(require_admin))  # /v1/admin/documents (bot/api_documents.py)

    if settings.web_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.web_dir, html=True), name="web")
    return app


class _AdminDisabled(PolicyBotError):
    code = "admin_disabled"
    status = 404


class _Unauthorized(PolicyBotError):
    code = "unauthorized"
    status = 401
