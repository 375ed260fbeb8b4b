"""Formats: real .docx (python-docx), .pdf (reportlab with a CJK CID font, and an image-only scan), .html
(a page saved from a government site) and .txt in the encodings administrators have."""

from __future__ import annotations

import html
import io
from pathlib import Path

import pytest

from bot.errors import NoTextLayer, UnreadableDocument, UnsupportedFormat
from bot.formats import to_text
from bot.ingest import parse_text

from .conftest import DATA

NOTICE_2024 = DATA / "notices" / "js-skills-subsidy-2024.txt"
LINES = [ln.strip() for ln in NOTICE_2024.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _parses_like_the_text_version(text: str) -> None:
    expected = parse_text(NOTICE_2024.read_text(encoding="utf-8"), source="txt", slug="x")
    got = parse_text(text, source="converted", slug="x")
    assert [(c.label, c.text, c.units) for c in got.measures] == [(c.label, c.text, c.units) for c in expected.measures]
    assert (got.title, got.doc_number, got.date_iso, got.attachments) == (
        expected.title,
        expected.doc_number,
        expected.date_iso,
        expected.attachments,
    )


def test_txt_in_utf8_bom_and_gb18030() -> None:
    raw = NOTICE_2024.read_text(encoding="utf-8")
    for data in (raw.encode("utf-8"), b"\xef\xbb\xbf" + raw.encode("utf-8"), raw.encode("gb18030")):
        _parses_like_the_text_version(to_text(data, "notice.txt"))
    assert to_text(raw.encode("utf-16"), "notice.txt") == raw


def test_txt_that_is_no_known_encoding_names_the_line() -> None:
    data = "标题\n第二行\n".encode() + b"\x80\xff\xfe\n"
    with pytest.raises(UnreadableDocument) as err:
        to_text(data, "bad.txt")
    assert "第3行" in err.value.message


def test_docx_paragraphs_and_tables_in_order() -> None:
    import docx

    document = docx.Document()
    for line in LINES[:-2]:
        document.add_paragraph(line)
    # the issuer and date printed in a borderless table, as Word templates for 联合发文 do
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "江苏省人力资源和社会保障厅"
    table.cell(0, 1).text = "江苏省财政厅"
    table.cell(1, 0).merge(table.cell(1, 1)).text = "二〇二四年三月十八日"
    buf = io.BytesIO()
    document.save(buf)
    text = to_text(buf.getvalue(), "通知.docx")
    assert text.splitlines()[-2:] == ["江苏省人力资源和社会保障厅  江苏省财政厅", "二〇二四年三月十八日"]
    doc = parse_text(text, source="通知.docx", slug="x")
    assert doc.issuers == ("江苏省人力资源和社会保障厅", "江苏省财政厅")
    assert len(doc.measures) == 16 and doc.measures[4].units == ("省就业服务管理中心", "省职业技能鉴定中心")


def test_a_broken_docx_is_a_clear_error() -> None:
    with pytest.raises(UnreadableDocument, match="无法读取 Word 文件"):
        to_text(b"PK\x03\x04 not really a zip", "broken.docx")


def _pdf(lines: list[str]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    y = 800.0
    page = 1
    for line in lines:
        if y < 80:
            c.setFont("STSong-Light", 9)
            c.drawString(290, 40, f"— {page} —")  # a page number, dropped by the conversion
            c.showPage()
            page += 1
            y = 800.0
        c.setFont("STSong-Light", 9)
        # a long paragraph wraps over several lines, as in a printed PDF
        for i in range(0, len(line), 55):
            c.drawString(40, y, line[i : i + 55])
            y -= 14
    c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_with_a_text_layer_reads_as_the_notice() -> None:
    text = to_text(_pdf(LINES), "notice.pdf")
    assert "— 1 —" not in text
    _parses_like_the_text_version(text)


def test_a_scanned_pdf_has_no_text_layer() -> None:
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = Image.new("L", (400, 200), color=255)
    for x in range(50, 350):
        img.putpixel((x, 100), 0)  # a "printed" stroke: an image, no text
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawImage(ImageReader(img), 50, 500, width=400, height=200)
    c.showPage()
    c.save()
    with pytest.raises(NoTextLayer) as err:
        to_text(buf.getvalue(), "scan.pdf")
    assert err.value.code == "no_text_layer" and "没有文字层" in err.value.message
    assert "no text layer" in (err.value.detail or "")


def test_a_broken_pdf_is_a_clear_error() -> None:
    with pytest.raises(UnreadableDocument, match="无法读取 PDF 文件"):
        to_text(b"%PDF-1.4 garbage", "broken.pdf")


def _gov_page(body_lines: list[str], charset: str = "utf-8") -> bytes:
    paragraphs = "\n".join(f'<p style="text-indent:2em">{html.escape(ln)}</p>' for ln in body_lines[1:])
    page = f"""<!DOCTYPE html><html><head><meta charset="{charset}"><title>{body_lines[0]}_政府网站</title>
<script>var tracker = 1;</script><style>.nav {{ color: red }}</style></head><body>
<div class="header"><a href="/">首页</a> <a href="/zwgk">政务公开</a> <a href="/bsfw">办事服务</a></div>
<div class="crumb">当前位置：首页 &gt; 政务公开 &gt; 通知公告</div>
<div class="article"><h1>{html.escape(body_lines[0])}</h1>
<div class="meta">发布日期：2024-03-20 来源：省人社厅 浏览次数：1234</div>
<div class="TRS_Editor">{paragraphs}</div>
<div class="share">分享到：微信 微博</div></div>
<div class="footer">主办单位：江苏省人力资源和社会保障厅 网站标识码 3200000000</div>
</body></html>"""
    return page.encode("gb18030" if charset == "gb2312" else charset)


@pytest.mark.parametrize("charset", ["utf-8", "gb2312"])
def test_html_saved_from_a_government_site(charset: str) -> None:
    text = to_text(_gov_page(LINES, charset), "notice.html")
    assert "首页" not in text and "浏览次数" not in text and "tracker" not in text
    _parses_like_the_text_version(text)


def test_html_where_the_extractor_finds_nothing_falls_back_to_the_block_text() -> None:
    page = "<html><body><div>第一段文字。</div><div>第二段<br>第三段</div></body></html>"
    assert to_text(page.encode(), "short.htm").splitlines() == ["第一段文字。", "第二段", "第三段"]


@pytest.mark.parametrize("name", ["notice.doc", "notice.xlsx", "notice"])
def test_unsupported_formats(name: str) -> None:
    with pytest.raises(UnsupportedFormat) as err:
        to_text(b"whatever", name)
    assert err.value.status == 415
    if name.endswith(".doc"):
        assert ".docx" in err.value.message


def test_paths_work_like_bytes(tmp_path: Path) -> None:
    p = tmp_path / "n.txt"
    p.write_bytes(NOTICE_2024.read_bytes())
    assert to_text(p) == to_text(NOTICE_2024.read_bytes(), "n.txt")
