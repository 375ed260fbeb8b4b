"""The knowledge base's documents: the catalog and an administrator's add, replace, retire and remove.

Sources are the text form of each notice, ``index/sources/<doc>.txt``; beside them the catalog
``index/sources/catalog.json`` (written atomically) records per document its original file name, when it was
added or replaced, and its administrative status::

    {"documents": {"js-skills-subsidy-2024": {"file": "js-skills-subsidy-2024.txt",
                   "original_name": "苏人社发〔2024〕35号.docx", "added": "2026-12-01T10:00:00+08:00",
                   "updated": "", "status": "current", "retired": ""}},
     "removed": {"js-skills-subsidy-2019": "2026-12-01T10:05:00+08:00"}}

A source without a catalog entry (the seed notice) is current. ``removed`` lists documents an administrator
removed: their source is deleted, and a build skips a file of that id should one reappear, so a removed
document never comes back unless it is added again.

Every change runs under the index build lock: it converts and parses the file first (a malformed notice fails
naming file and line before anything is touched), writes the source and the catalog, then calls ``rebuild``
(which builds a new generation and swaps it in). If the rebuild fails, the source and the catalog are restored,
so the served index and the sources stay in step.

Example::

    >>> kb = KnowledgeBase(settings)
    >>> doc = kb.add(Path("通知.docx").read_bytes(), "通知.docx", slug="js-2024", rebuild=rebuild)
    >>> kb.retire("js-2024", rebuild=rebuild).status
    'retired'
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import ConfigError, DocumentError, DocumentExists, UnknownDocument
from bot.formats import to_text
from bot.ingest import Document, NoticeTerms, parse_notice, parse_text, slug_for, source_files

CATALOG_NAME = "catalog.json"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")

Rebuild = Callable[[], object]


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class CatalogEntry:
    file: str
    original_name: str = ""
    added: str = ""
    updated: str = ""
    status: str = "current"  # administrative: "current" | "retired"
    retired: str = ""


@dataclass
class Catalog:
    documents: dict[str, CatalogEntry] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path(sources_dir: Path) -> Path:
        return sources_dir / CATALOG_NAME

    @classmethod
    def load(cls, sources_dir: Path) -> Catalog:
        path = cls.path(sources_dir)
        if not path.exists():
            return cls()
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                documents={k: CatalogEntry(**v) for k, v in raw.get("documents", {}).items()},
                removed=dict(raw.get("removed", {})),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError("文档目录文件已损坏", detail=f"{path}: {exc}") from exc

    def dumps(self) -> str:
        payload = {"documents": {k: asdict(v) for k, v in sorted(self.documents.items())}, "removed": self.removed}
        return json.dumps(payload, ensure_ascii=False, indent=1) + "\n"

    def save(self, sources_dir: Path) -> None:
        _write_atomic(self.path(sources_dir), self.dumps().encode("utf-8"))

    def status_of(self, slug: str) -> str:
        entry = self.documents.get(slug)
        return entry.status if entry else "current"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def terms_for(settings: Settings) -> NoticeTerms:
    """The notice vocabulary of this deployment (``<index_dir>/notice_terms.json``, else the repo's)."""
    path = settings.index_dir / "notice_terms.json"
    return NoticeTerms.load(path if path.exists() else None)


def apply_catalog(documents: list[Document], catalog: Catalog) -> list[Document]:
    """Stamp each document's stored status: retired by an administrator, or superseded when another indexed
    document repeals it (by 文号, or by title when it prints none)."""
    out = []
    for d in documents:
        status = catalog.status_of(d.slug)
        if status != "retired":
            repealed_by_others = {s for o in documents if o is not d for s in o.supersedes}
            keys = {*d.doc_number.split(), d.title, d.name} - {""}
            status = "superseded" if keys & repealed_by_others else "current"
        out.append(replace(d, status=status))
    return out


@dataclass(frozen=True)
class DocumentRecord:
    """One document as administrators see it: the parsed notice and its catalog entry."""

    document: Document
    entry: CatalogEntry

    @property
    def slug(self) -> str:
        return self.document.slug


class KnowledgeBase:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sources = settings.sources_path

    # --- reading ----------------------------------------------------------------------------------
    def check(self, data: bytes, filename: str, slug: str | None = None, *, source: str | None = None) -> Document:
        """Convert and parse without touching anything: what ``docs check`` prints and what ``add`` stores.
        ``source`` names the file in errors (default ``filename``)."""
        return self._convert(data, filename, slug, source)[1]

    def _convert(self, data: bytes, filename: str, slug: str | None, source: str | None = None) -> tuple[str, Document]:
        slug = self._valid_slug(slug or slug_for(filename))
        text = to_text(data, filename)
        path = str(self.sources / f"{slug}.txt")
        return text, parse_text(text, source=source or filename, slug=slug, path=path, terms=self._terms())

    def records(self) -> list[DocumentRecord]:
        """Every document in the sources with its stored status (as the next build will index it)."""
        catalog = Catalog.load(self.sources)
        files = [p for p in source_files(self.sources) if p.stem not in catalog.removed]
        docs = apply_catalog([parse_notice(p, terms=self._terms()) for p in files], catalog)
        return [DocumentRecord(d, catalog.documents.get(d.slug) or CatalogEntry(file=Path(d.path).name)) for d in docs]

    def record(self, slug: str) -> DocumentRecord:
        for r in self.records():
            if r.slug == slug:
                return r
        raise UnknownDocument("没有这个文件", detail=slug)

    # --- changing ---------------------------------------------------------------------------------
    def add(
        self,
        data: bytes,
        filename: str,
        *,
        rebuild: Rebuild,
        slug: str | None = None,
        replace_existing: bool = False,
    ) -> DocumentRecord:
        """Add a notice (or replace the one with the same id when ``replace_existing``) and rebuild."""
        text, doc = self._convert(data, filename, slug)  # fails naming file and line before anything is written
        from bot.index import build_lock

        with build_lock(self.settings.build_path):
            catalog = Catalog.load(self.sources)
            target = self.sources / f"{doc.slug}.txt"
            old_entry = catalog.documents.get(doc.slug)
            if target.exists() and doc.slug not in catalog.removed and not replace_existing:
                raise DocumentExists(
                    f"文件 {doc.slug} 已存在；如需替换请选择替换", detail=f"{doc.slug} exists; pass replace"
                )
            now = _now()
            catalog.documents[doc.slug] = CatalogEntry(
                file=target.name,
                original_name=filename,
                added=(old_entry.added if old_entry and target.exists() else now) or now,
                updated=now if target.exists() else "",
                status="current",
                retired="",
            )
            catalog.removed.pop(doc.slug, None)
            self._change({target: text.encode("utf-8")}, catalog, rebuild)
        return self.record(doc.slug)

    def retire(self, slug: str, *, rebuild: Rebuild) -> DocumentRecord:
        """Keep the document in the index, marked retired: it is no longer cited as current policy."""
        from bot.index import build_lock

        with build_lock(self.settings.build_path):
            catalog = Catalog.load(self.sources)
            target = self._existing(slug, catalog)
            old = catalog.documents.get(slug) or CatalogEntry(file=target.name, original_name=target.name)
            if old.status != "retired":
                catalog.documents[slug] = replace(old, status="retired", retired=_now())
                self._change({}, catalog, rebuild)
        return self.record(slug)

    def remove(self, slug: str, *, rebuild: Rebuild) -> None:
        """Delete the document from the sources and the index; a later build never brings it back."""
        from bot.index import build_lock

        with build_lock(self.settings.build_path):
            catalog = Catalog.load(self.sources)
            target = self._existing(slug, catalog)
            if len(source_files(self.sources)) <= 1:
                raise DocumentError("不能删除最后一个文件：索引不能为空", detail=f"{slug} is the only document")
            catalog.documents.pop(slug, None)
            catalog.removed[slug] = _now()
            self._change({target: None}, catalog, rebuild)

    # --- internals --------------------------------------------------------------------------------
    def _terms(self) -> NoticeTerms:
        return terms_for(self.settings)

    def _valid_slug(self, slug: str) -> str:
        if not SLUG_RE.match(slug):
            raise DocumentError(
                "文件编号只能包含小写字母、数字、点、下划线和连字符", detail=f"invalid document id {slug!r}"
            )
        return slug

    def _existing(self, slug: str, catalog: Catalog) -> Path:
        target = self.sources / f"{slug}.txt"
        if not SLUG_RE.match(slug) or not target.exists() or slug in catalog.removed:
            raise UnknownDocument("没有这个文件", detail=slug)
        return target

    def _change(self, files: dict[Path, bytes | None], catalog: Catalog, rebuild: Rebuild) -> None:
        """Write ``files`` (None deletes) and the catalog, rebuild; on failure restore both."""
        cat_path = Catalog.path(self.sources)
        before = {p: (p.read_bytes() if p.exists() else None) for p in [*files, cat_path]}
        try:
            for p, data in files.items():
                if data is None:
                    p.unlink(missing_ok=True)
                else:
                    _write_atomic(p, data)
            catalog.save(self.sources)
            rebuild()
        except BaseException:
            for p, data in before.items():
                if data is None:
                    p.unlink(missing_ok=True)
                else:
                    _write_atomic(p, data)
            raise
