"""HTTP: the administrator's documents, ``/v1/admin/documents`` (bearer admin token like the other admin
endpoints; 404 when no token is configured, 401 on a wrong one).

=======================================  =========================================================
``GET    /v1/admin/documents``           every document with its 文号, issuers, validity and status
``POST   /v1/admin/documents``           multipart upload: ``file`` (.txt .docx .pdf .html), optional
                                         ``doc`` (id) and ``replace`` (true to replace that id); 201
``POST   /v1/admin/documents/{doc}/retire``  kept in the index, no longer current
``DELETE /v1/admin/documents/{doc}``     removed from the sources and the index
=======================================  =========================================================

Each change builds a new index generation and swaps it in before the response; answers keep flowing from the
previous generation meanwhile. A file that cannot be a notice is refused before anything changes: 422
``malformed_notice`` naming the line, ``no_text_layer`` for a scanned PDF, 415 ``unsupported_format``, 409
``document_exists`` without ``replace``, 413 over ``POLICYBOT_MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.catalog import DocumentRecord, KnowledgeBase
from bot.config import Settings
from bot.errors import MalformedNotice, PolicyBotError
from bot.service import ChatService

PREFIX = "/v1/admin/documents"
DOC_ID = Annotated[str, Path(max_length=80, pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$", examples=["js-skills-2024"])]


class AdminDocument(BaseModel):
    doc: str
    title: str
    name: str
    doc_number: str = Field(description="文号, e.g. 苏人社发〔2024〕35号")
    issuers: list[str]
    addressees: str
    date: str
    date_iso: str
    region: str
    region_level: str
    effective_from: str
    expires: str
    status: str = Field(description="today: current | expired | superseded | retired")
    admin_status: str = Field(description="as set by an administrator: current | retired")
    supersedes: list[str]
    attachments: list[str]
    clauses: int
    clauses_with_units: int
    sections: int
    original_name: str
    added: str
    updated: str
    retired: str
    warnings: list[str]


class RemovedDocument(BaseModel):
    doc: str
    removed: bool = True


class UploadTooLarge(PolicyBotError):
    code = "payload_too_large"
    status = 413


def admin_document(record: DocumentRecord) -> AdminDocument:
    d, e = record.document, record.entry
    return AdminDocument(
        doc=d.slug,
        title=d.title,
        name=d.name,
        doc_number=d.doc_number,
        issuers=list(d.issuers),
        addressees=d.addressees,
        date=d.date,
        date_iso=d.date_iso,
        region=d.region,
        region_level=d.region_level,
        effective_from=d.effective_from,
        expires=d.expires,
        status=d.status_on(),
        admin_status=e.status,
        supersedes=list(d.supersedes),
        attachments=list(d.attachments),
        clauses=len(d.measures),
        clauses_with_units=sum(1 for m in d.measures if m.units),
        sections=len(d.sections),
        original_name=e.original_name or e.file,
        added=e.added,
        updated=e.updated,
        retired=e.retired,
        warnings=list(d.warnings),
    )


def _malformed(exc: MalformedNotice) -> JSONResponse:
    return JSONResponse(
        {
            "code": exc.code,
            "message": f"文件 {exc.path} 第 {exc.line} 行无法识别：{exc.reason}",
            "file": exc.path,
            "line": exc.line,
        },
        status_code=422,
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "管理令牌无效"},
    404: {"description": "管理接口未启用，或没有这个文件"},
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "文件编号已存在（未选择替换）"},
    413: {"description": "文件太大"},
    415: {"description": "不支持的文件格式"},
    422: {"description": "文件无法识别为政策文件（指明行号），或 PDF 没有文字层"},
}


def documents_router(require_admin: Callable[..., None]) -> APIRouter:
    """The router, guarded by the app's admin dependency (passed in: ``bot.api`` owns it)."""
    router = APIRouter(prefix=PREFIX, tags=["管理"], dependencies=[Depends(require_admin)])

    def service(request: Request) -> ChatService:
        svc: ChatService = request.app.state.service
        return svc

    def kb(request: Request) -> KnowledgeBase:
        settings: Settings = request.app.state.settings
        return KnowledgeBase(settings)

    @router.get("", response_model=list[AdminDocument], responses=ERRORS, summary="全部政策文件及其状态")
    def list_documents(request: Request) -> list[AdminDocument]:
        return [admin_document(r) for r in kb(request).records()]

    @router.post(
        "",
        status_code=201,
        response_model=AdminDocument,
        responses=UPLOAD_ERRORS,
        summary="上传政策文件（新增或替换），重建索引并原子切换",
    )
    def upload_document(
        request: Request,
        file: Annotated[UploadFile, File(description=".txt、.docx、.pdf（带文字层）或 .html")],
        doc: Annotated[str | None, Form(max_length=80, description="文件编号；默认取自文件名")] = None,
        replace: Annotated[bool, Form(description="替换同编号的文件")] = False,
    ) -> Any:
        settings: Settings = request.app.state.settings
        data = file.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise UploadTooLarge("文件太大了", detail=f"over {settings.max_upload_bytes} bytes")
        base = kb(request)
        name = file.filename or "document.txt"
        try:
            record = service(request).change_documents(
                lambda rebuild: base.add(data, name, slug=doc or None, replace_existing=replace, rebuild=rebuild)
            )
        except MalformedNotice as exc:
            return _malformed(exc)
        return admin_document(record)

    @router.post(
        "/{doc}/retire", response_model=AdminDocument, responses=ERRORS, summary="停用文件：保留但不再作为现行政策"
    )
    def retire_document(request: Request, doc: DOC_ID) -> AdminDocument:
        base = kb(request)
        return admin_document(service(request).change_documents(lambda rebuild: base.retire(doc, rebuild=rebuild)))

    @router.delete("/{doc}", response_model=RemovedDocument, responses=ERRORS, summary="删除文件并重建索引")
    def remove_document(request: Request, doc: DOC_ID) -> RemovedDocument:
        base = kb(request)
        service(request).change_documents(lambda rebuild: base.remove(doc, rebuild=rebuild))
        return RemovedDocument(doc=doc)

    return router
