"""Ingest: parse policy notices into typed records (Document -> Section -> Measure -> sentences, units).

A notice of the supported shape is plain UTF-8 text::

    <title line>
    <addressees>:
    <body>
    <issuer>                      # the line right before the date
    2022年5月23日                  # the date line
    <name of the attached measures>
    <preamble>
    一、<section title>
    (一)<measure text>。(责任单位:A处、B中心,各设区市人力资源社会保障局)

Measures are numbered (一), (二)… (half- or full-width brackets) and must run consecutively; each ends with
its responsible units. Any deviation raises :class:`~bot.errors.MalformedNotice` naming file and line, so a
measure is never silently dropped. Continuation lines are joined to the measure they follow.

Example::

    >>> doc = parse_notice(Path("index/sources/jiangsu-hrss-digital-economy-measures-2022.txt"))
    >>> doc.measures[6].label, doc.measures[6].units[:3]
    ('（七）', ('就业处', '就管中心', '职介中心'))
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import MalformedNotice

_CN_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100}
_NUMERAL = "[一二三四五六七八九十百零两]+"
SECTION_RE = re.compile(rf"^({_NUMERAL})、\s*(\S.*)$")
MEASURE_RE = re.compile(rf"^[（(]\s*({_NUMERAL})\s*[）)]\s*(.*)$")
UNITS_RE = re.compile(r"[（(]\s*责任单位\s*[:：]\s*([^（）()]+?)\s*[）)]\s*[。.]?\s*$")
DATE_RE = re.compile(r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*$")
SENTENCE_END = "。！？；!?;"
UNIT_SEPARATORS = re.compile(r"[、，,；;]")


def chinese_numeral(text: str) -> int:
    """Convert a Chinese numeral as used in headings to an int.

    >>> chinese_numeral("七"), chinese_numeral("十二"), chinese_numeral("二十"), chinese_numeral("一百零三")
    (7, 12, 20, 103)
    """
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + current


def to_chinese_numeral(n: int) -> str:
    """Inverse of :func:`chinese_numeral` for 1..199 (measure labels)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n - 10] if n > 10 else "")
    if n < 100:
        tens, ones = divmod(n, 10)
        return digits[tens] + "十" + (digits[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    tail = "" if rest == 0 else ("零" + digits[rest] if rest < 10 else to_chinese_numeral(rest))
    if 10 <= rest < 20:
        tail = "一" + tail
    return digits[hundreds] + "百" + tail


def measure_label(n: int) -> str:
    """The canonical label of measure ``n``: full-width brackets, e.g. ``（七）``."""
    return f"（{to_chinese_numeral(n)}）"


@dataclass(frozen=True)
class Section:
    number: int
    heading: str  # as printed, e.g. "三、促进产业数字化转型升级"
    title: str  # without the numeral, e.g. "促进产业数字化转型升级"


@dataclass(frozen=True)
class Measure:
    doc: str
    number: int
    label: str
    section: str  # the section heading as printed ("" when the notice has no sections)
    text: str  # the measure body as printed, without the label and the units clause
    sentences: tuple[str, ...]
    units: tuple[str, ...]  # responsible units exactly as printed, in order
    units_text: str  # the units clause content as printed
    line: int

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.number}"

    @property
    def local_bureaus_named(self) -> bool:
        """Whether the city bureaus (各设区市…局) are among the responsible units."""
        return any(u.startswith("各设区市") for u in self.units)


@dataclass(frozen=True)
class Document:
    slug: str
    path: str
    title: str
    issuer: str
    date: str  # as printed, e.g. "2022年5月23日"
    name: str  # name of the measures document (the line after the date), else the title
    sha256: str
    sections: tuple[Section, ...]
    measures: tuple[Measure, ...] = field(repr=False)


def split_sentences(text: str) -> tuple[str, ...]:
    """Split a measure body into sentences, keeping the end punctuation; quotes stay verbatim.

    >>> split_sentences("甲。乙;丙")
    ('甲。', '乙;', '丙')
    """
    out: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_END:
            piece = text[start : i + 1].strip()
            if piece:
                out.append(piece)
            start = i + 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return tuple(out)


def _slug(path: Path) -> str:
    slug = re.sub(r"[^0-9A-Za-z._-]+", "-", path.stem).strip("-").lower()
    return slug or hashlib.sha1(path.name.encode()).hexdigest()[:12]


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MalformedNotice(str(path), line, "not valid UTF-8 text") from exc


def parse_notice(path: Path) -> Document:
    """Parse one notice file. Raises :class:`MalformedNotice` with file and line on any shape error."""
    raw = path.read_bytes()
    text = _decode(path, raw)
    if "\x00" in text:
        raise MalformedNotice(str(path), text[: text.index("\x00")].count("\n") + 1, "NUL byte in text")
    lines = [unicodedata.normalize("NFC", ln).strip() for ln in text.splitlines()]
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln]
    if not numbered:
        raise MalformedNotice(str(path), 1, "empty notice")
    slug = _slug(path)
    title = numbered[0][1]

    date_pos = next((k for k, (_, ln) in enumerate(numbered) if DATE_RE.match(ln)), None)
    if date_pos is None:
        raise MalformedNotice(str(path), numbered[-1][0], "no date line such as 2022年5月23日")
    date = numbered[date_pos][1]
    issuer = numbered[date_pos - 1][1] if date_pos > 0 else ""
    if not issuer or SECTION_RE.match(issuer) or MEASURE_RE.match(issuer):
        raise MalformedNotice(str(path), numbered[date_pos][0], "no issuer line before the date")
    name = title
    if date_pos + 1 < len(numbered):
        nxt = numbered[date_pos + 1][1]
        if not SECTION_RE.match(nxt) and not MEASURE_RE.match(nxt):
            name = nxt

    sections: list[Section] = []
    drafts: list[tuple[int, int, str, list[str]]] = []  # (number, line, section heading, text parts)
    for lineno, ln in numbered[date_pos + 1 :]:
        if m := SECTION_RE.match(ln):
            number = chinese_numeral(m.group(1))
            expected = len(sections) + 1
            if number != expected:
                raise MalformedNotice(str(path), lineno, f"section {m.group(1)}、 out of order (expected {expected})")
            sections.append(Section(number=number, heading=ln, title=m.group(2).strip()))
        elif m := MEASURE_RE.match(ln):
            number = chinese_numeral(m.group(1))
            expected = len(drafts) + 1
            if number != expected:
                raise MalformedNotice(
                    str(path),
                    lineno,
                    f"measure ({m.group(1)}) out of order: expected {measure_label(expected)}",
                )
            drafts.append((number, lineno, sections[-1].heading if sections else "", [m.group(2)]))
        elif drafts:
            drafts[-1][3].append(ln)  # a continuation line of the current measure
        # lines before the first measure (preamble) are context, not measures
    if not drafts:
        raise MalformedNotice(str(path), numbered[-1][0], "no numbered measures such as (一) found")

    measures = tuple(_finish_measure(path, slug, *d) for d in drafts)
    return Document(
        slug=slug,
        path=str(path),
        title=title,
        issuer=issuer,
        date=date,
        name=name,
        sha256=hashlib.sha256(raw).hexdigest(),
        sections=tuple(sections),
        measures=measures,
    )


def _finish_measure(path: Path, slug: str, number: int, line: int, section: str, parts: list[str]) -> Measure:
    full = "".join(parts).strip()
    m = UNITS_RE.search(full)
    if not m:
        raise MalformedNotice(str(path), line, f"measure {measure_label(number)} does not end with (责任单位:…)")
    body = full[: m.start()].strip()
    if not body:
        raise MalformedNotice(str(path), line, f"measure {measure_label(number)} has no text")
    units_text = m.group(1).strip()
    units = tuple(u.strip() for u in UNIT_SEPARATORS.split(units_text) if u.strip())
    if not units:
        raise MalformedNotice(str(path), line, f"measure {measure_label(number)} names no responsible unit")
    return Measure(
        doc=slug,
        number=number,
        label=measure_label(number),
        section=section,
        text=body,
        sentences=split_sentences(body),
        units=units,
        units_text=units_text,
        line=line,
    )


def load_sources(paths: Iterable[Path]) -> list[Document]:
    """Parse several notices; slugs must be unique so measure ids stay stable across notices."""
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for p in sorted(paths):
        doc = parse_notice(p)
        if doc.slug in seen:
            raise MalformedNotice(str(p), 1, f"document id {doc.slug!r} already used by {seen[doc.slug]}")
        seen[doc.slug] = str(p)
        docs.append(doc)
    return docs


def source_files(sources_dir: Path) -> list[Path]:
    """The notice files of a sources directory (``*.txt``), sorted for stable ids and hashes."""
    return sorted(p for p in sources_dir.glob("*.txt") if p.is_file())
