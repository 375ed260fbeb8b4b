"""Formats: turn the files administrators have into the plain text the notice parser reads.

=========  ==========================================================================================
``.txt``   UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (what Chinese Windows saves)
``.docx``  python-docx: paragraphs and tables in document order; a table row becomes one line whose
           cells are separated by two spaces (issuers printed side by side in a borderless table)
``.pdf``   pypdf, page by page; a PDF with no text layer (a scan) raises :class:`NoTextLayer`;
           page-number lines (``— 3 —``) are dropped
``.html``  trafilatura (main content, paragraph breaks kept; the page's heading first when the content
           does not repeat it), falling back to the text of the block elements when it finds nothing
           (a bare page); charset from the ``<meta>``, else UTF-8, else GB18030
=========  ==========================================================================================

Errors are typed (:mod:`bot.errors`) and name the file. Example::

    >>> to_text(Path("notice.docx").read_bytes(), "notice.docx").splitlines()[0]
    '江苏省人力资源和社会保障厅关于…的通知'
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

from bot.errors import NoTextLayer, UnreadableDocument, UnsupportedFormat

SUPPORTED_SUFFIXES = (".txt", ".docx", ".pdf", ".html", ".htm")
_PAGE_NUMBER = re.compile(r"^[\s\-—–－_·•]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*/\s*\d{1,4})?[\s\-—–－_·•]*$")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_BLOCK_TAGS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "td", "th", "section", "article")


def suffix_of(filename: str) -> str:
    return Path(filename).suffix.lower()


def to_text(source: Path | bytes, filename: str | None = None) -> str:
    """The text of ``source`` (a path, or the bytes of an upload named ``filename``), lines as printed."""
    if isinstance(source, Path):
        filename = filename or source.name
        data = source.read_bytes()
    else:
        data = source
    name = filename or "document"
    suffix = suffix_of(name)
    if suffix not in SUPPORTED_SUFFIXES:
        hint = "；请将 .doc 另存为 .docx" if suffix == ".doc" else ""
        raise UnsupportedFormat(
            f"不支持的文件格式 {suffix or '(无扩展名)'}：请上传 .txt、.docx、.pdf 或 .html 文件{hint}",
            detail=f"{name}: unsupported format {suffix!r}",
        )
    if suffix == ".txt":
        text = decode_text(data, name)
    elif suffix == ".docx":
        text = _docx_text(data, name)
    elif suffix == ".pdf":
        text = _pdf_text(data, name)
    else:
        text = _html_text(data, name)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        raise UnreadableDocument(f"{name} 中没有文字内容", detail=f"{name}: no text")
    return text


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (BOM optional), UTF-16 with a BOM, else GB18030; otherwise an error naming the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableDocument(f"{name} 不是有效的 UTF-16 文本", detail=f"{name}: {exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise UnreadableDocument(
                f"{name} 第{line}行不是 UTF-8 或 GB18030 编码的文字",
                detail=f"{name}:{line}: neither UTF-8 nor GB18030",
            ) from utf8_error


def _docx_text(data: bytes, name: str) -> str:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zipfile/KeyError/lxml errors alike for a broken file
        raise UnreadableDocument(f"无法读取 Word 文件 {name}", detail=f"{name}: {type(exc).__name__}: {exc}") from exc
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = " ".join(cell.text.split())
                    if t and (not cells or cells[-1] != t):  # a merged cell repeats in every row it spans
                        cells.append(t)
                if cells:
                    lines.append("  ".join(cells))
        else:
            lines.extend(block.text.split("\n"))
    return "\n".join(lines)


def _pdf_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(f"PDF 文件 {name} 已加密", detail=f"{name}: encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableDocument(f"无法读取 PDF 文件 {name}", detail=f"{name}: {type(exc).__name__}: {exc}") from exc
    if not any(p.strip() for p in pages):
        raise NoTextLayer(
            f"PDF 文件 {name} 没有文字层（扫描件），无法读取：请上传带文字的 PDF、Word 或文本文件",
            detail=f"{name}: no text layer ({len(pages)} page(s))",
        )
    lines = [ln for p in pages for ln in p.splitlines() if not _PAGE_NUMBER.match(ln)]
    return "\n".join(lines)


def _decode_html(data: bytes) -> str:
    m = _CHARSET.search(data[:4096])
    if m:
        try:
            return data.decode(m.group(1).decode("ascii").lower().replace("gb2312", "gb18030"))
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _html_text(data: bytes, name: str) -> str:
    import trafilatura

    html = _decode_html(data)
    extracted = trafilatura.bare_extraction(
        html, include_tables=True, include_comments=False, deduplicate=False, with_metadata=True
    )
    text = (getattr(extracted, "text", None) or "").strip()
    if not text:
        return _plain_html_text(html, name)
    title = " ".join((getattr(extracted, "title", None) or "").split())
    head = [ln.strip() for ln in text.splitlines()[:3]]
    if title and not any(title in ln or ln in title for ln in head if ln):
        text = f"{title}\n{text}"  # the notice's title is the page heading, outside the extracted body
    return text


def _plain_html_text(html: str, name: str) -> str:
    """The text of the block elements, one per line, without scripts, styles and navigation."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        raise UnreadableDocument(f"无法读取网页文件 {name}", detail=f"{name}: {exc}") from exc
    for bad in root.xpath("//script|//style|//nav|//noscript|//head"):
        bad.drop_tree()
    for el in root.iter(*_BLOCK_TAGS):
        el.tail = "\n" + (el.tail or "")
    return "\n".join(" ".join(ln.split()) for ln in root.text_content().splitlines() if ln.strip())
