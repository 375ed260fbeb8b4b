"""HTTP API (FastAPI): translates HTTP into :class:`bot.service.ChatService` calls and results into JSON.

Contract (shared/DESIGN.md): ``POST /v1/ask``, ``POST /v1/ask/stream`` (SSE, ASCII-only frames for WeChat's
chunked ``wx.request``; with the optional LLM also a ``replace`` frame, see :func:`explained_frames`),
browsing endpoints, ``POST /v1/feedback``, ``/healthz``, ``/readyz`` and the admin
reindex. Every error is ``{"code", "message"}`` with a fitting status; nothing here knows policy.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.answer import Answer
from bot.config import Settings, get_settings
from bot.errors import PolicyBotError
from bot.llm import Fallback, Sentence, StreamEvent
from bot.service import (
    ChatService,
    CityInfo,
    DocumentInfo,
    IndexStatus,
    MeasureInfo,
    OfficeInfo,
    SectionInfo,
)
from bot.wechat_routes import CurrentUser, install_wechat

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
SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


# --- request and response models -------------------------------------------------------------------
class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"question": "我们厂搞智能化改造，多出来的工人怎么安置？", "city": "苏州"}]},
    )
    question: str = Field(description="市民的问题（简体、繁体或英文）", examples=["外卖骑手送餐摔伤了有保障吗"])
    session_id: str | None = Field(None, pattern=SESSION_ID_PATTERN, description="上一轮返回的会话 id，用于追问")
    city: str | None = Field(None, max_length=20, description="设区市，例如 苏州", examples=["苏州"])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"message_id": "5f0c…", "helpful": True, "comment": "说得很清楚"}]},
    )
    message_id: str = Field(min_length=1, max_length=64, description="回答里的 message_id")
    helpful: bool = Field(description="有帮助 / 没帮助")
    comment: str | None = Field(None, max_length=500, description="补充意见（可选）")


class FeedbackResponse(BaseModel):
    ok: bool = True
    id: int


class ErrorBody(BaseModel):
    code: str = Field(examples=["question_too_long"])
    message: str = Field(examples=["问题太长了，请控制在500字以内"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    ready: bool
    detail: str


class ReindexAccepted(BaseModel):
    started: bool
    status: IndexStatus


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "请求不是合法的 JSON"},
    413: {"model": ErrorBody, "description": "问题或请求体太长"},
    422: {"model": ErrorBody, "description": "参数不正确（空问题、类型错误、未知城市）"},
    429: {"model": ErrorBody, "description": "请求太频繁，见 Retry-After"},
    503: {"model": ErrorBody, "description": "服务尚未就绪"},
}


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
class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before any parsing (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = error_response(413, "payload_too_large", "请求内容太长了")
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    await too_big(scope, receive, send)
                    return
            except ValueError:
                await error_response(400, "bad_request", "请求头不正确")(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await too_big(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


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
    * Otherwise ``meta`` carries ``ai_generated: true`` and each ``delta`` is one checked sentence.
    * A later failure sends ``{"type": "replace", "text": <the deterministic answer>, "ai_generated": false,
      "fallback": <reason>}``: the client drops the text shown so far and shows ``text`` instead. No unchecked
      token is ever sent; what was shown before the replace had passed the guard.
    * ``end`` repeats the final ``ai_generated``.
    """
    async with aclosing(events) as stream:
        first = await anext(stream, None)
        if not isinstance(first, Sentence):
            async for frame in stream_frames(answer):
                yield frame
            return
        yield sse({"type": "meta", **answer.model_dump(exclude={"answer"}), "ai_generated": True})
        yield sse({"type": "delta", "text": first.text})
        generated = True
        async for event in stream:
            if isinstance(event, Sentence):
                yield sse({"type": "delta", "text": event.text})
            elif isinstance(event, Fallback):
                e = event.explanation
                yield sse({"type": "replace", "text": e.text, "ai_generated": False, "fallback": e.fallback_reason})
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


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Bearer token from settings; none configured disables the admin endpoints (404)."""
    settings: Settings = request.app.state.settings
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        raise _AdminDisabled("管理接口未启用")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise _Unauthorized("需要有效的管理令牌")


Svc = Annotated[ChatService, Depends(get_service)]
Admin = Annotated[None, Depends(require_admin)]


# --- the app -------------------------------------------------------------------------------------------
def create_app(settings: Settings | None = None, service: ChatService | None = None) -> FastAPI:
    settings = settings or get_settings()
    svc = service or ChatService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not svc.ready:
            # load in the background: /healthz answers at once, /readyz says 503 until the index is in
            threading.Thread(target=svc.load, name="load-index", daemon=True).start()
        yield
        svc.store.close()
        if svc.explainer is not None:
            svc.explainer.close()
        app.state.wechat.close()

    app = FastAPI(
        title="江苏人社政策问答 API",
        description="根据江苏省人社厅发布的政策文件回答问题：引用原文、列出责任单位、指引到所在设区市人社局或 12333。",
        version="1.0",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.state.settings = settings
    app.add_exception_handler(PolicyBotError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    install_wechat(app, settings, svc)  # /v1/auth/wechat, /wechat/mp, app.state.wechat

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
            max_age=600,
        )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def client_of(request: Request) -> str:
        if settings.trust_proxy_headers:
            forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
            if forwarded:
                return forwarded[:64]
        return request.client.host if request.client else "unknown"

    @app.post("/v1/ask", response_model=Answer, responses=ERRORS, tags=["问答"], summary="提问（一次性返回）")
    def ask(body: AskRequest, request: Request, service: Svc, user: CurrentUser) -> Answer:
        return service.ask(
            body.question, session_id=body.session_id, city=body.city, client=client_of(request), user=user
        )

    @app.post(
        "/v1/ask/stream",
        responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "SSE 帧"}},
        tags=["问答"],
        summary="提问（SSE 流式返回）",
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
        responses={**ERRORS, 404: {"model": ErrorBody, "description": "未知的 message_id"}},
        tags=["反馈"],
        summary="对回答评价：有帮助 / 没帮助",
    )
    def feedback(body: FeedbackRequest, service: Svc, user: CurrentUser) -> FeedbackResponse:
        return FeedbackResponse(id=service.feedback(body.message_id, body.helpful, body.comment, user))

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
        responses={404: {"model": ErrorBody}},
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
        responses={503: {"model": ErrorBody}},
        tags=["运维"],
        summary="索引已加载",
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
        responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}},
        tags=["管理"],
        summary="后台重建索引并原子切换",
    )
    def reindex(_: Admin, service: Svc) -> ReindexAccepted:
        started = service.start_reindex()
        return ReindexAccepted(started=started, status=service.status())

    @app.get(
        "/v1/admin/status",
        response_model=IndexStatus,
        responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}},
        tags=["管理"],
        summary="索引版本与重建状态",
    )
    def admin_status(_: Admin, service: Svc) -> IndexStatus:
        return service.status()

    if settings.web_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.web_dir, html=True), name="web")
    return app


class _AdminDisabled(PolicyBotError):
    code = "admin_disabled"
    status = 404


class _Unauthorized(PolicyBotError):
    code = "unauthorized"
    status = 401
