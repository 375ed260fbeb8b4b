"""Ingest: parse Chinese government policy documents into typed records.

One model for every shape a notice is printed in::

    Document(title, 文号, issuers, addressees, date, region, validity, status)
      └─ Section (heading chain as printed: 第二章 失业保险金 / 三、保障措施 / （一）…)
           └─ Measure (= Clause: label as printed （七） 三、 第十二条 5.; text; sentences; units when printed)

Shapes read (all found in published notices):

* ``一、`` sections with ``（一）`` items (the seed notice), ``一、`` items only, ``一、`` sections with ``1.`` or
  ``1、`` items (``一．`` / ``一.`` read as ``一、``), a plan's ``第一部分 …`` parts above them,
  ``第一章 … 第X条`` articles (enumerations ``（一）（二）`` inside an article stay part of it),
  a notice with no numbered items at all (each body paragraph is a clause labelled ``第N段``); a 政策问答 whose
  items are ``1.问：…`` with their ``答：…`` lines; text printed under a heading before its items is a clause
  labelled by the heading, or, when it announces them ("须具备下列条件之一："), one clause with its items;
* a cover letter followed by the plan it issues, with the plan's own title (the cover letter and the plan's
  preamble are context, not clauses); attached material after ``附件`` headings is recorded, not parsed;
* issuer(s) and date after the title, after the body or after the attachment list; several issuer lines or
  columns (联合发文); dates in Arabic or Chinese numerals (二〇二二年五月二十三日); a 文号 line;
* units printed as ``（责任单位：…）``, ``（牵头单位：…；配合单位：…）`` or ``（联系单位：…，联系电话：…）``, at the
  end of a clause's paragraph or on the next line; clauses without units are fine;
* validity: ``自…起施行``, ``自印发之日起施行``, ``有效期N年``, ``有效期至…``, ``执行（期限）至…``, and what the
  notice repeals (``…同时废止``), read only from sentences about the document itself (本通知/本办法…).

Strict where it matters: numbering that goes backwards or repeats at one level, text that fits no structure,
units in the middle of a clause or a clause without text raise :class:`~bot.errors.MalformedNotice` naming file
and line, so a clause is never silently dropped; a number skipped forward (a misprint published notices do
carry) is kept as printed and reported. What the parser had to assume is listed in ``Document.warnings``.

The vocabulary (organisation suffixes, unit labels, boilerplate lines, provinces) is data:
``index/notice_terms.json``.

Example::

    >>> doc = parse_notice(Path("index/sources/jiangsu-hrss-digital-economy-measures-2022.txt"))
    >>> doc.measures[6].label, doc.measures[6].units[:3], doc.region, doc.date_iso
    ('（七）', ('就业处', '就管中心', '职介中心'), '江苏省', '2022-05-23')
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.config import REPO_ROOT
from bot.errors import MalformedNotice

DEFAULT_TERMS_PATH = REPO_ROOT / "index" / "notice_terms.json"

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "O": 0,
    "o": 0,
    "Ｏ": 0,
    "０": 0,
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
_NUMERAL = "[一二三四五六七八九十百零〇两]+"
_YEAR_DIGITS = "〇○零OoＯ０一二三四五六七八九"
_SMALL = "[一二三四五六七八九十]{1,3}"
SENTENCE_END = "。！？；!?;"
_TERMINAL = "。！？；：:.!?;"  # a line ending with one of these is a sentence, not a title

# --- grammar of numbered headings (rank: lower is higher in the hierarchy) ------------------------------
CHAPTER, JIE, ARTICLE, CN, PCN, AR, PAR = "chapter", "jie", "article", "cn", "pcn", "ar", "par"
PART = "part"  # 第一部分 总体要求: the parts of a plan (规划, 方案), above everything else
RANK = {PART: -1, CHAPTER: 0, JIE: 1, ARTICLE: 2, CN: 3, PCN: 4, AR: 5, PAR: 6}
_HEADINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (PART, re.compile(rf"^第\s*({_NUMERAL}|\d{{1,3}})\s*部分\s*(.*)$")),
    (CHAPTER, re.compile(rf"^第\s*({_NUMERAL}|\d{{1,3}})\s*章\s*(.*)$")),
    (JIE, re.compile(rf"^第\s*({_NUMERAL}|\d{{1,3}})\s*节\s*(.*)$")),
    (ARTICLE, re.compile(rf"^第\s*({_NUMERAL}|\d{{1,3}})\s*条\s*(.*)$")),
    # 一、 as most notices print it; 一． / 一. as some do (the label is normalised to 一、)
    (CN, re.compile(rf"^({_NUMERAL})\s*(?:、|[.．](?!\d))\s*(.*)$")),
    (PCN, re.compile(rf"^[（(]\s*({_NUMERAL})\s*[）)]\s*(.*)$")),
    # "1.5万元" is a number, not item 1; "2、2024年度…" is item 2 (a 、 never sits inside a number)
    (AR, re.compile(r"^(\d{1,3})\s*([.．](?!\d)|、)\s*(.*)$")),
    (PAR, re.compile(r"^[（(]\s*(\d{1,3})\s*[）)]\s*(.*)$")),
)
# kept for callers of the first parser version
SECTION_RE = _HEADINGS[3][1]
MEASURE_RE = _HEADINGS[4][1]

_DATE_BODY = (
    rf"(?:(\d{{4}})\s*年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*日"
    rf"|([{_YEAR_DIGITS}]{{4}})\s*年\s*({_SMALL})\s*月\s*({_SMALL})\s*日)"
)
DATE_RE = re.compile(rf"^\s*[（(]?\s*{_DATE_BODY}\s*[）)]?\s*$")
_DATE_ANYWHERE = re.compile(_DATE_BODY)
_DOCNO = r"[\u4e00-\u9fff]{1,8}\s*[〔［\[【]\s*\d{4}\s*[〕］\]】]\s*\d{1,4}\s*号"
DOCNO_RE = re.compile(_DOCNO)
_DOCNO_LINE = re.compile(rf"^\s*{_DOCNO}(?:\s+{_DOCNO})*\s*$")
_ATTACH_LIST = re.compile(r"^附\s*件\s*[:：]\s*(\S.*)$")
_ATTACH_NUMBERED = re.compile(rf"^附\s*件\s*(\d{{1,2}}|{_NUMERAL})\s*(?:[:：]\s*|\s+)(\S.*)$")
_ATTACH_HEADING = re.compile(rf"^附\s*件\s*(\d{{1,2}}|{_NUMERAL})?\s*[:：]?\s*$")
_ATTACH_ITEM = re.compile(r"^(\d{1,2})\s*[.．、]\s*(\S.*)$")
_ATTACH_SPLIT = re.compile(r"\s+(?=\d{1,2}\s*[.．、])")
# a line that starts like a numbered heading whose numbering cannot be read: 三)…, ？三)…, (三…, 三.…
_BROKEN_HEADING = re.compile(
    r"^(?:[^\u4e00-\u9fff\w（(]{0,2}[一二三四五六七八九十]{1,3}\s*[)）]"
    r"|[（(]\s*[一二三四五六七八九十]{1,3}\s*[^)）一二三四五六七八九十\s]"
    r")"
)
_TITLE_QUOTE = re.compile(r"《([^《》]+)》")
_SEPARATORS = "、，,；;"


def chinese_numeral(text: str) -> int:
    """Convert a Chinese numeral as used in headings to an int.

    >>> chinese_numeral("七"), chinese_numeral("十二"), chinese_numeral("二十"), chinese_numeral("一百零三")
    (7, 12, 20, 103)
    """
    if text.isdigit():
        return int(text)
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
    """The canonical label of a ``（N）`` item: full-width brackets, e.g. ``（七）``."""
    return f"（{to_chinese_numeral(n)}）"


# --- vocabulary ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoticeTerms:
    """The words of ``index/notice_terms.json`` (see its ``about``)."""

    doc_types: tuple[str, ...]
    org_suffixes: tuple[str, ...]
    primary_unit_labels: tuple[str, ...]
    cooperating_unit_labels: tuple[str, ...]
    contact_labels: tuple[str, ...]
    intro_markers: tuple[str, ...]
    closing_formulas: tuple[str, ...]
    publication_notes: tuple[str, ...]
    copy_to_markers: tuple[str, ...]
    print_line_markers: tuple[str, ...]
    effective_verbs: tuple[str, ...]
    issue_events: tuple[str, ...]
    validity_until_markers: tuple[str, ...]
    validity_years_markers: tuple[str, ...]
    repeal_markers: tuple[str, ...]
    interpretation_markers: tuple[str, ...]
    end_of_period_words: tuple[str, ...]
    national_prefixes: tuple[str, ...]
    national_suffixes: tuple[str, ...]
    provinces: tuple[str, ...]
    default_region: str
    national_region: str

    @classmethod
    def load(cls, path: Path | None = None) -> NoticeTerms:
        return _load_terms(str(path or DEFAULT_TERMS_PATH))

    @property
    def unit_labels(self) -> tuple[str, ...]:
        # longest first so 联系电话 wins over 电话
        return tuple(
            sorted(
                (*self.primary_unit_labels, *self.cooperating_unit_labels, *self.contact_labels), key=len, reverse=True
            )
        )

    def self_reference(self) -> re.Pattern[str]:
        """A sentence about the document itself: 本通知, 本办法, 本实施方案…"""
        return re.compile("本(?:" + "|".join(map(re.escape, sorted(self.doc_types, key=len, reverse=True))) + ")")


_HEADING_SENTENCE_CHARS = 10  # a sentence this short that opens an item is its heading ("执行时间。")


@lru_cache(maxsize=8)
def _load_terms(path: str) -> NoticeTerms:
    raw: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    values: dict[str, Any] = {}
    for name, f in NoticeTerms.__dataclass_fields__.items():
        v = raw[name]
        values[name] = v if f.type == "str" else tuple(v)
    return NoticeTerms(**values)


# --- the records ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    number: int  # 1-based position among the document's sections
    heading: str  # as printed, e.g. "三、促进产业数字化转型升级" or "第二章 失业保险金"
    title: str  # without the numbering, e.g. "促进产业数字化转型升级"
    level: int = 1  # 1 = top level of the body; deeper headings count up; 0 = an attachment part
    label: str = ""  # the numbering as printed: "三、", "第二章", "（一）"
    line: int = 0
    # text printed under the heading before its first item; unless a mere lead-in ("措施如下：") it is also a
    # clause of its own, labelled by the heading
    intro: str = ""


@dataclass(frozen=True)
class Measure:
    """One clause of a notice (alias :data:`Clause`). ``number`` is its 1-based position in the document."""

    doc: str
    number: int
    label: str  # as printed: "（七）", "三、", "第十二条", "5.", or "第3段" for an unnumbered paragraph
    section: str  # heading chain as printed, e.g. "第二章 失业保险金" ("" when none)
    text: str  # the clause body as printed, without the label and the units parenthetical
    sentences: tuple[str, ...]
    units: tuple[str, ...]  # every unit exactly as printed, in order (may be empty)
    units_text: str  # the units parenthetical after its first label, as printed ("" when none)
    line: int
    unit_kind: str = ""  # the printed word: "责任单位", "牵头单位", "联系单位"… ("" when none)
    cooperating_units: tuple[str, ...] = ()  # 配合单位 etc., also listed in ``units``
    contact: str = ""  # a printed contact (phone) parenthetical, verbatim
    # the clause is about the document itself (本办法自…起施行, 由…负责解释, …同时废止), not a measure
    about_document: bool = False

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.number}"

    @property
    def cited(self) -> str:
        """How an answer cites the clause: （七） -> 第（七）条, 五、 -> 第五条, 6. -> 第6条; a label that is
        already a citation (第十四条, 第3段) stays as printed."""
        return cited_label(self.label)

    @property
    def lead_units(self) -> tuple[str, ...]:
        """The units that are not cooperating units (责任单位 / 牵头单位 …)."""
        return tuple(u for u in self.units if u not in self.cooperating_units)

    @property
    def local_bureaus_named(self) -> bool:
        """Whether the city bureaus (各设区市…局) are among the responsible units."""
        return any(u.startswith("各设区市") for u in self.units)


Clause = Measure

STATUSES = ("current", "expired", "superseded", "retired")


@dataclass(frozen=True)
class Document:
    slug: str
    path: str
    title: str
    issuer: str  # the issuers joined with "、" (old callers)
    date: str  # as printed, e.g. "2022年5月23日" or "二〇二二年五月二十三日"
    name: str  # title of the plan/measures the notice issues (the line after the cover letter), else the title
    sha256: str
    sections: tuple[Section, ...]
    measures: tuple[Measure, ...] = field(repr=False)
    doc_number: str = ""  # 文号, e.g. "苏人社发〔2024〕35号"
    issuers: tuple[str, ...] = ()
    addressees: str = ""  # as printed, with the colon
    date_iso: str = ""
    region: str = ""  # "江苏省", "苏州市", "湖北省", "全国" …
    region_level: str = ""  # "province" | "city" | "national"
    effective_from: str = ""  # ISO date or ""
    expires: str = ""  # ISO date (last day of validity) or ""
    supersedes: tuple[str, ...] = ()  # 文号 (or title when no 文号 is printed) of what it repeals
    attachments: tuple[str, ...] = ()  # attachment names as printed
    status: str = "current"  # stored: "current" | "superseded" | "retired"; see status_on for "expired"
    preamble: tuple[str, ...] = ()  # cover letter and preamble paragraphs (context)
    closing: tuple[str, ...] = ()  # paragraphs after the last clause about the document itself
    contact: str = ""  # a document-level contact parenthetical (联系单位/联系人), verbatim
    warnings: tuple[str, ...] = ()  # what the parser had to assume

    @property
    def clauses(self) -> tuple[Measure, ...]:
        return self.measures

    def status_on(self, day: dt.date | None = None) -> str:
        """The status on ``day`` (today by default): retired and superseded are administrative facts; a
        document whose printed validity ended before ``day`` is expired."""
        if self.status in ("retired", "superseded"):
            return self.status
        day = day or dt.date.today()
        if self.expires and day.isoformat() > self.expires:
            return "expired"
        return "current"

    def is_current(self, day: dt.date | None = None) -> bool:
        return self.status_on(day) == "current"

    @property
    def topic(self) -> str:
        """What the notice's name says it is about, without its region: "常州市职业技能培训…细则" ->
        "职业技能培训…细则" (the city says where the notice applies, not what a clause is about)."""
        name = self.name
        for word in sorted(
            {self.region, self.region.removesuffix("市").removesuffix("省")} - {""}, key=len, reverse=True
        ):
            name = name.replace(word, "")
        return name


def split_sentences(text: str) -> tuple[str, ...]:
    r"""Split a clause body into sentences, keeping the end punctuation; quotes stay verbatim. A line break
    the parser kept (between the rows of a table or a list of offices, see :func:`join_lines`) ends a
    sentence too, and stays with it so that the sentences still join to the text.

    >>> split_sentences("甲。乙;丙")
    ('甲。', '乙;', '丙')
    >>> split_sentences("补贴标准如下：\n1  电工  1600\n2  焊工  1800")
    ('补贴标准如下：\n', '1  电工  1600\n', '2  焊工  1800')
    """
    out: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_END or ch == "\n":
            piece = text[start : i + 1].strip() + ("\n" if ch == "\n" else "")
            if piece.strip():
                out.append(piece)
            elif out and ch == "\n" and not out[-1].endswith("\n"):
                out[-1] += "\n"
            start = i + 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return tuple(out)


# a row of a table printed as text ("1  电工  四级/中级工  1600": cells apart by a tab, two spaces or an
# ideographic space) or of a list ("崇川区：崇川区人力资源和社会保障局…，联系电话：…": a short name, a colon)
CELL_GAP = re.compile(r"\t|\u3000| {2,}")
_TABLE_ROW = re.compile(rf"\S(?:{CELL_GAP.pattern})\S")
_LIST_ROW = re.compile(r"^[^\s，。；：:、,]{1,10}[：:]\S")
_CONTINUES = "，,、（(“《"


def is_table_row(text: str) -> bool:
    """Whether a line (or sentence) is a row of a table printed as text: cells apart by a :data:`CELL_GAP`."""
    return _TABLE_ROW.search(text) is not None


def _is_row(text: str) -> bool:
    return is_table_row(text) or _LIST_ROW.search(text) is not None


def join_lines(lines: Iterable[str]) -> str:
    r"""Join the printed lines of one clause. A line a page merely wrapped continues its sentence; a row of a
    table or a list stays a line of its own (kept as ``\n``), so that no two rows run together ("1600" and
    "2  焊工" must never read "16002  焊工") and each row is a sentence an answer can quote.

    >>> join_lines(["支持企业建设实训基地，", "对建成的给予奖补。"])
    '支持企业建设实训基地，对建成的给予奖补。'
    >>> join_lines(["标准如下：", "1  电工  1600", "2  焊工  1800"])
    '标准如下：\n1  电工  1600\n2  焊工  1800'
    """
    out = ""
    previous = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        ended = previous.endswith(tuple(SENTENCE_END)) or previous.endswith(tuple(_CONTINUES))
        if out and not ended and (_is_row(line) or _is_row(previous)):
            out += "\n"
        out += line
        previous = line
    return out


# --- dates -------------------------------------------------------------------------------------------
def _year(text: str) -> int:
    return int(text) if text.isdigit() else int("".join(str(_CN_DIGITS[c]) for c in text))


def parse_date(text: str) -> str:
    """The ISO form of a printed date, Arabic or Chinese numerals; "" when ``text`` holds none.

    >>> parse_date("2022年5月23日"), parse_date("二〇二二年五月二十三日"), parse_date("二○二四年三月十八日")
    ('2022-05-23', '2022-05-23', '2024-03-18')
    """
    m = _DATE_ANYWHERE.search(text)
    if not m:
        return ""
    g = m.groups()
    y, mo, d = (g[0], g[1], g[2]) if g[0] else (g[3], g[4], g[5])
    try:
        return dt.date(_year(y), chinese_numeral(mo), chinese_numeral(d)).isoformat()
    except ValueError:
        return ""


def _add_years_minus_one_day(start: str, years: int) -> str:
    """The last day of a validity of ``years`` years from ``start`` (有效期5年 from 2024-06-01 → 2029-05-31)."""
    d = dt.date.fromisoformat(start)
    try:
        end = d.replace(year=d.year + years)
    except ValueError:  # 29 February
        end = d.replace(year=d.year + years, day=28)
    return (end - dt.timedelta(days=1)).isoformat()


# --- lines -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    no: int
    text: str


@dataclass(frozen=True)
class _Heading:
    kind: str
    number: int
    label: str  # normalised: full-width brackets, no spaces
    rest: str  # the text after the numbering
    printed: str  # the whole line, whitespace collapsed

    @property
    def rank(self) -> int:
        return RANK[self.kind]


def _heading(text: str) -> _Heading | None:
    for kind, rx in _HEADINGS:
        m = rx.match(text)
        if not m:
            continue
        if kind == AR:
            raw, sep, rest = m.group(1), m.group(2), m.group(3)
            label = f"{int(raw)}{sep}"
        else:
            raw, rest = m.group(1), m.group(2)
            if kind == PAR:
                label = f"（{int(raw)}）"
            elif kind == PCN:
                label = f"（{raw}）"
            elif kind == CN:
                label = f"{raw}、"
            else:
                label = f"第{raw}" + {PART: "部分", CHAPTER: "章", JIE: "节", ARTICLE: "条"}[kind]
        try:
            number = chinese_numeral(raw)
        except ValueError:
            return None
        if number < 1:
            return None
        return _Heading(kind, number, label, rest.strip(), re.sub(r"\s+", " ", text).strip())
    return None


def _first_label(kind: str, sample: _Heading) -> str:
    if kind == AR:
        return "1" + sample.label[-1]
    return {
        PART: "第一部分",
        CHAPTER: "第一章",
        JIE: "第一节",
        ARTICLE: "第一条",
        CN: "一、",
        PCN: "（一）",
        PAR: "（1）",
    }[kind]


def cited_label(label: str) -> str:
    """The citation form of a printed clause label (see :attr:`Measure.cited`)."""
    if label.startswith("第"):
        return label
    return f"第{label.rstrip('、.．,，: ')}条"


def _label_of(kind: str, n: int, sample: _Heading) -> str:
    if kind == AR:
        return f"{n}{sample.label[-1]}"
    if kind == PAR:
        return f"（{n}）"
    cn = to_chinese_numeral(n)
    return {
        PART: f"第{cn}部分",
        CHAPTER: f"第{cn}章",
        JIE: f"第{cn}节",
        ARTICLE: f"第{cn}条",
        CN: f"{cn}、",
        PCN: f"（{cn}）",
    }[kind]


class _Reader:
    """Recognises the kinds of line a notice prints, with the vocabulary of :class:`NoticeTerms`."""

    def __init__(self, terms: NoticeTerms) -> None:
        self.t = terms
        self.self_ref = terms.self_reference()
        # a closing line about what precedes it: "以上问答仅作为政策解读，具体以正式文件规定为准。"
        types = "|".join(map(re.escape, sorted(terms.doc_types, key=len, reverse=True)))
        self.about_above = re.compile(rf"^以上(?:{types})")
        labels = "|".join(map(re.escape, terms.unit_labels))
        self.units_open = re.compile(rf"^[（(]\s*(?:{labels})\s*[:：]")
        unit_only = "|".join(map(re.escape, (*terms.primary_unit_labels, *terms.cooperating_unit_labels)))
        self.units_anywhere = re.compile(rf"[（(]\s*(?:{unit_only})\s*[:：]")
        self.label_prefix = re.compile(rf"^\s*({labels})\s*[:：]\s*")
        self.org_suffixes = tuple(sorted(terms.org_suffixes, key=len, reverse=True))
        self.doc_type_end = tuple(sorted(terms.doc_types, key=len, reverse=True))
        self.provinces = tuple(terms.provinces)
        ev = "|".join(map(re.escape, terms.effective_verbs))
        issue = "|".join(map(re.escape, terms.issue_events))
        ends = "|".join(map(re.escape, terms.end_of_period_words))
        vdate = (
            rf"(?:\d{{4}}|[{_YEAR_DIGITS}]{{4}})\s*年"
            rf"(?:\s*(?:\d{{1,2}}|{_SMALL})\s*月(?:\s*(?:\d{{1,2}}|{_SMALL})\s*日|\s*(?:{ends}))?|\s*(?:{ends}))"
        )
        self.vdate = re.compile(vdate)
        self.effective_on = re.compile(rf"自\s*({vdate})\s*起\s*(?:{ev})")
        self.effective_on_issue = re.compile(rf"自\s*(?:{issue})\s*之日起\s*(?:{ev})")
        until = "|".join(map(re.escape, sorted(terms.validity_until_markers, key=len, reverse=True)))
        self.valid_until = re.compile(rf"(?:{until})\s*({vdate})")
        years = "|".join(map(re.escape, sorted(terms.validity_years_markers, key=len, reverse=True)))
        self.valid_years = re.compile(rf"(?:{years})\s*(\d{{1,2}}|{_SMALL})\s*年(?!\s*\d|\s*[{_YEAR_DIGITS}])")
        self.valid_range = re.compile(rf"(?:{years})\s*(?:自\s*)?({vdate})\s*(?:起\s*)?(?:至|到|—|－|-)\s*({vdate})")

    # classification
    def is_org_token(self, tok: str) -> bool:
        if not 2 <= len(tok) <= 40 or re.search(r"[。，、；：,;:！？!?《》“”\"（）()\d]", tok):
            return False
        return tok.endswith(self.org_suffixes)

    def is_org_line(self, text: str) -> bool:
        tokens = text.split()
        return bool(tokens) and all(self.is_org_token(t) for t in tokens) and _heading(text) is None

    def is_units_line(self, text: str) -> bool:
        return bool(self.units_open.match(text)) and text.rstrip("。.").endswith(("）", ")"))

    def is_note(self, text: str) -> bool:
        inner = text.strip("（）() ")
        if text.startswith(("（", "(")) and any(inner.startswith(n) for n in self.t.publication_notes):
            return True
        if any(re.match(rf"^{re.escape(m)}\s*[:：]", text) for m in self.t.copy_to_markers):
            return True
        return bool(_DATE_ANYWHERE.search(text)) and text.endswith(self.t.print_line_markers)

    def is_titleish(self, text: str) -> bool:
        return bool(text) and len(text) <= 80 and text[-1] not in _TERMINAL and _heading(text) is None

    def is_intro(self, text: str) -> bool:
        return any(m in text for m in self.t.intro_markers) and text[-1:] in "。：:"

    def about_document(self, sentences: tuple[str, ...]) -> bool:
        """Whether a clause speaks only about the document itself: "执行时间。本通知自2024年4月1日起施行…。
        原《…》同时废止。" (a short heading sentence aside, every sentence refers to the document, its entry
        into force or what it repeals)."""
        body = [s for s in sentences if len(s) > _HEADING_SENTENCE_CHARS]
        if not body or not self.self_ref.match(body[0]):
            return False
        # "本办法适用于…" is about the document too, but says who it serves: only entry into force,
        # interpretation and repeal make a clause purely administrative
        words = (*self.t.effective_verbs, *self.t.repeal_markers, *self.t.interpretation_markers)
        if not any(w in s for s in body for w in words):
            return False
        return all(self.self_ref.search(s) or any(w in s for w in words) for s in body)

    def is_closing(self, text: str) -> bool:
        return bool(self.self_ref.match(text) or self.about_above.match(text)) or any(
            text.startswith(f) for f in self.t.closing_formulas
        )

    # units -------------------------------------------------------------------------------------
    def trailing_parentheticals(self, text: str) -> tuple[str, list[str]]:
        """Split ``text`` into its body and the units/contact parentheticals printed at its end."""
        found: list[str] = []
        body = text.rstrip()
        while True:
            stripped = body.rstrip("。. ")
            if not stripped.endswith(("）", ")")):
                break
            depth, start = 0, -1
            for i in range(len(stripped) - 1, -1, -1):
                ch = stripped[i]
                if ch in "）)":
                    depth += 1
                elif ch in "（(":
                    depth -= 1
                    if depth == 0:
                        start = i
                        break
            if start < 0 or not self.units_open.match(stripped[start:]):
                break
            found.insert(0, stripped[start + 1 : -1].strip())
            body = stripped[:start].rstrip()
        return body, found

    def read_units(self, parts: list[str]) -> tuple[tuple[str, ...], str, str, tuple[str, ...], str]:
        """(units, units_text, unit_kind, cooperating, contact) from parenthetical contents as printed.

        ``牵头单位：A；配合单位：B、C`` gives units (A, B, C), kind 牵头单位, cooperating (B, C);
        ``联系单位：A，联系电话：025-…；B，联系电话：…`` gives units (A, B) and the whole text as contact.
        """
        units: list[str] = []
        cooperating: list[str] = []
        contact_parts: list[str] = []
        kind = units_text = ""
        for content in parts:
            current = ""  # the label that the following unlabelled values belong to
            in_contact = has_contact = False
            for tok in _split_top_level(content):
                m = self.label_prefix.match(tok)
                value = (tok[m.end() :] if m else tok).strip().strip("。. ")
                if m:
                    label = m.group(1)
                    if label in self.t.contact_labels:
                        has_contact = in_contact = True
                        continue
                    current, in_contact = label, False
                    if not kind:
                        kind = label
                        units_text = content[content.index(tok) + m.end() :].strip()
                elif in_contact and not self.is_org_token(value):
                    continue  # 联系人：张三、李四 - a person, not a unit
                if value and current:
                    units.append(value)
                    if current in self.t.cooperating_unit_labels:
                        cooperating.append(value)
            if has_contact:
                contact_parts.append(content)
        return tuple(units), units_text, kind, tuple(cooperating), "；".join(contact_parts)

    # region -------------------------------------------------------------------------------------
    def region_of(self, issuer: str) -> tuple[str, str] | None:
        for p in self.provinces:
            if p in issuer:
                after = issuer[issuer.index(p) + len(p) :]
                m = re.match(r"^([\u4e00-\u9fff]{2,4}?市)(?!场)", after)
                if m and not p.endswith("市"):
                    return m.group(1), "city"
                return p, "province"
        m = re.match(r"^([\u4e00-\u9fff]{2,4}?市)(?!场)", issuer)
        if m and "省" not in m.group(1):
            return m.group(1), "city"
        if issuer.startswith("省"):
            return self.t.default_region, "province"
        if issuer.startswith(self.t.national_prefixes) or issuer.endswith(self.t.national_suffixes):
            return self.t.national_region, "national"
        return None

    def vdate_iso(self, text: str) -> str:
        """ISO form of a validity date; 2025年底 → 2025-12-31, 2025年6月 / 6月底 → the month's last day."""
        iso = parse_date(text)
        if iso:
            return iso
        m = re.match(rf"^([\d{_YEAR_DIGITS}]{{4}})\s*年(?:\s*(\d{{1,2}}|{_SMALL})\s*月)?", text)
        if not m:
            return ""
        year = _year(m.group(1))
        if m.group(2) is None:
            return dt.date(year, 12, 31).isoformat()
        month = chinese_numeral(m.group(2))
        if not 1 <= month <= 12:
            return ""
        return dt.date(year, month, calendar.monthrange(year, month)[1]).isoformat()


def _split_top_level(content: str) -> list[str]:
    """Split a units parenthetical on 、，,；; outside nested brackets (厅（局） stays whole)."""
    out: list[str] = []
    buf: list[str] = []
    depth = 0
    for ch in content:
        if ch in "（(":
            depth += 1
        elif ch in "）)":
            depth = max(0, depth - 1)
        if ch in _SEPARATORS and depth == 0:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return [t.strip() for t in out if t.strip()]


# --- the parser --------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Node:
    heading: _Heading | None
    line: int
    texts: list[_Line] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    @property
    def rank(self) -> int:
        return self.heading.rank if self.heading else min(RANK.values()) - 1


@dataclass(eq=False)
class _Segment:
    kind: str  # "main" | "attachment"
    lines: list[_Line] = field(default_factory=list)
    title: str = ""
    after_signature: bool = False


@dataclass
class _Signature:
    issuers: list[str]
    date: _Line


class _NoticeParser:
    def __init__(self, source: str, slug: str, text: str, terms: NoticeTerms) -> None:
        self.source = source
        self.slug = slug
        self.terms = terms
        self.r = _Reader(terms)
        lines = [unicodedata.normalize("NFC", ln).strip() for ln in text.splitlines()]
        self.lines = [_Line(i + 1, ln) for i, ln in enumerate(lines) if ln]
        self.warnings: list[str] = []
        self.sections: list[Section] = []
        self.clauses: list[Measure] = []

    def fail(self, line: int, reason: str) -> MalformedNotice:
        return MalformedNotice(self.source, line, reason)

    # ---- header ----------------------------------------------------------------------------------
    def parse(self, sha256: str, path: str) -> Document:
        if not self.lines:
            raise self.fail(1, "empty notice")
        r = self.r
        lines = self.lines
        i = 0
        doc_numbers: list[str] = []
        while i < len(lines) and _DOCNO_LINE.match(lines[i].text):
            doc_numbers += DOCNO_RE.findall(lines[i].text)
            i += 1
        if i >= len(lines):
            raise self.fail(lines[-1].no, "no title line")
        title = lines[i].text
        i += 1
        if (
            i < len(lines)
            and not title.endswith(r.doc_type_end)
            and lines[i].text.endswith(r.doc_type_end)
            and r.is_titleish(lines[i].text)
            and not r.is_org_line(lines[i].text)
        ):
            title += lines[i].text  # a title printed over two lines
            i += 1
        while i < len(lines) and _DOCNO_LINE.match(lines[i].text):
            doc_numbers += DOCNO_RE.findall(lines[i].text)
            i += 1
        signatures: list[_Signature] = []
        j = i
        while j < len(lines) and r.is_org_line(lines[j].text):
            j += 1
        if j < len(lines) and DATE_RE.match(lines[j].text):  # issuer and date printed under the title
            signatures.append(_Signature(self._issuers(lines[i:j]), lines[j]))
            i = j + 1
            while i < len(lines) and _DOCNO_LINE.match(lines[i].text):
                doc_numbers += DOCNO_RE.findall(lines[i].text)
                i += 1
        addressees = ""
        if i < len(lines):
            t = lines[i].text
            if t[-1] in "：:" and "。" not in t and not r.is_intro(t) and _heading(t) is None:
                addressees = t
                i += 1

        segments, attachments, doc_contact_lines = self._scan(lines[i:], signatures)
        if not signatures:
            raise self.fail(lines[-1].no, "no date line such as 2022年5月23日 or 二〇二二年五月二十三日")
        signed = next((s for s in signatures if s.issuers), signatures[0])
        issuers = signed.issuers
        if not issuers:
            issuers = self._issuers_from_title(title)
            if issuers:
                self.warnings.append("issuer taken from the title: no issuer line above the date")
        if not issuers:
            raise self.fail(signed.date.no, "no issuer line before the date")
        date_line = signed.date
        date_iso = parse_date(date_line.text)
        if not date_iso:
            raise self.fail(date_line.no, f"not a calendar date: {date_line.text}")

        preamble, closing, name, doc_contact = self._body(segments, doc_contact_lines, title)
        region = r.region_of(issuers[0])
        if region is None:
            region = (self.terms.default_region, "province")
            self.warnings.append(f"region not printed in the issuer {issuers[0]!r}: assumed {region[0]}")
        if not doc_numbers:
            self.warnings.append("no 文号 printed")
        with_units = sum(1 for c in self.clauses if c.units)
        if 0 < with_units < len(self.clauses):
            missing = [f"{c.label}(line {c.line})" for c in self.clauses if not c.units]
            shown = "、".join(missing[:8]) + ("…" if len(missing) > 8 else "")
            self.warnings.append(f"{len(missing)} of {len(self.clauses)} clauses print no units: {shown}")
        effective, expires, supersedes = self._validity(closing, date_iso)
        return Document(
            slug=self.slug,
            path=path,
            title=title,
            issuer="、".join(issuers),
            date=re.sub(r"^[（(]|[）)]$", "", date_line.text).strip(),
            name=name,
            sha256=sha256,
            sections=tuple(self.sections),
            measures=tuple(self.clauses),
            doc_number=" ".join(doc_numbers),
            issuers=tuple(issuers),
            addressees=addressees,
            date_iso=date_iso,
            region=region[0],
            region_level=region[1],
            effective_from=effective,
            expires=expires,
            supersedes=supersedes,
            attachments=tuple(attachments),
            preamble=tuple(preamble),
            closing=tuple(closing),
            contact="；".join(doc_contact),
            warnings=tuple(self.warnings),
        )

    def _issuers(self, org_lines: list[_Line]) -> list[str]:
        return [tok for ln in org_lines for tok in ln.text.split()]

    def _issuers_from_title(self, title: str) -> list[str]:
        head = title.split("关于", 1)[0].strip() if "关于" in title else ""
        out: list[str] = []
        for tok in head.split():
            # several issuers printed without spaces: split where a province name starts again
            starts = sorted({m.start() for p in self.r.provinces for m in re.finditer(re.escape(p), tok)} - {0})
            pieces = [tok[a:b] for a, b in zip([0, *starts], [*starts, len(tok)], strict=True)]
            out += [p for p in pieces if self.r.is_org_token(p)]
        return out

    # ---- segmentation: body, signatures, attachments, notes ----------------------------------------
    def _scan(self, lines: list[_Line], signatures: list[_Signature]) -> tuple[list[_Segment], list[str], list[_Line]]:
        r = self.r
        segments = [_Segment("main", after_signature=bool(signatures))]
        attachments: list[str] = []
        contact_lines: list[_Line] = []
        k = 0
        while k < len(lines):
            ln = lines[k]
            t = ln.text
            seg = segments[-1]
            if DATE_RE.match(t):
                org: list[_Line] = []
                while seg.lines and r.is_org_line(seg.lines[-1].text):
                    org.insert(0, seg.lines.pop())
                signatures.append(_Signature(self._issuers(org), ln))
                segments.append(_Segment("main", after_signature=True))
                k += 1
                continue
            if r.is_note(t):
                k += 1
                continue
            # after the signature that closes a body, 附件N starts attached material; before it, a list
            closing_zone = seg.after_signature and bool(signatures) and not any(_heading(x.text) for x in seg.lines)
            m_head = _ATTACH_HEADING.match(t)
            m_num = _ATTACH_NUMBERED.match(t)
            nxt_item = _ATTACH_ITEM.match(lines[k + 1].text) if k + 1 < len(lines) else None
            if m_head and nxt_item and nxt_item.group(1) == "1" and r.is_titleish(lines[k + 1].text):
                k = self._attachment_items(lines, k + 1, attachments, 1)  # 附件： with the list below it
                continue
            if m_head or (m_num and closing_zone):
                title = m_num.group(2).strip() if m_num else ""
                if not title and k + 1 < len(lines) and r.is_titleish(lines[k + 1].text):
                    title = lines[k + 1].text
                    k += 1
                segments.append(_Segment("attachment", title=title, after_signature=True))
                if title and not any(title in a for a in attachments):
                    attachments.append(title)
                k += 1
                continue
            if m_num:
                attachments.append(m_num.group(2).strip())
                k += 1
                continue
            if m_list := _ATTACH_LIST.match(t):
                items = [x.strip() for x in _ATTACH_SPLIT.split(m_list.group(1)) if x.strip()]
                attachments += items
                k += 1
                if last_item := _ATTACH_ITEM.match(items[-1]):
                    k = self._attachment_items(lines, k, attachments, int(last_item.group(1)) + 1)
                continue
            if seg.kind == "main" and seg.after_signature and r.is_units_line(t) and self._body_done(segments):
                contact_lines.append(ln)  # a document-level 联系单位 / 联系人 line after the signature
                k += 1
                continue
            seg.lines.append(ln)
            k += 1
        return [s for s in segments if s.lines], attachments, contact_lines

    def _attachment_items(self, lines: list[_Line], k: int, attachments: list[str], expected: int) -> int:
        """Consume the numbered attachment names from line ``k`` on (2.… after 1.…); returns the next line."""
        while k < len(lines):
            m = _ATTACH_ITEM.match(lines[k].text)
            if not m or int(m.group(1)) != expected or lines[k].text[-1] in "。；;":
                break
            more = [x.strip() for x in _ATTACH_SPLIT.split(lines[k].text) if x.strip()]
            attachments += more
            last = _ATTACH_ITEM.match(more[-1])
            expected = int(last.group(1)) + 1 if last else expected + 1
            k += 1
        return k

    def _body_done(self, segments: list[_Segment]) -> bool:
        """Whether a numbered body was already printed (then a units line after a signature is the
        document's contact, not a clause's)."""
        return any(_heading(x.text) for s in segments[:-1] for x in s.lines) or not segments[-1].lines

    # ---- body ------------------------------------------------------------------------------------
    def _body(
        self, segments: list[_Segment], contact_lines: list[_Line], title: str
    ) -> tuple[list[str], list[str], str, list[str]]:
        r = self.r
        structured = [s for s in segments if any(_heading(x.text) for x in s.lines)]
        preamble: list[str] = []
        closing: list[str] = []
        doc_contact: list[str] = [c for x in contact_lines for c in r.trailing_parentheticals(x.text)[1]]
        if structured:
            parts = structured
        else:
            mains = [s for s in segments if s.kind == "main"]
            if not mains:
                raise self.fail(self.lines[-1].no, "no body text: no clause found")
            parts = mains[1:] if len(mains) > 1 else mains
        first, last = segments.index(parts[0]), segments.index(parts[-1])
        for s in segments[:first]:
            if s.kind == "main":
                preamble += [x.text for x in s.lines]
        for s in segments[first : last + 1]:
            if s not in parts and s.kind == "main":
                raise self.fail(
                    s.lines[0].no, f"text between the parts of the notice fits no structure: {s.lines[0].text[:30]}"
                )
        for s in segments[last + 1 :]:
            if s.kind == "attachment":
                continue
            for x in s.lines:
                if r.is_units_line(x.text):
                    doc_contact += r.trailing_parentheticals(x.text)[1]
                else:
                    raise self.fail(x.no, f"text after the signature fits no structure: {x.text[:30]}")
        for s in segments:
            if s.kind == "attachment" and s not in parts:
                self.warnings.append(
                    f"attachment {s.title or '(untitled)'} (lines {s.lines[0].no}-{s.lines[-1].no}) recorded, "
                    "not parsed into clauses"
                )
        name = ""
        multi = len(parts) > 1
        for p in parts:
            part_title = p.title if p.kind == "attachment" else ""
            chain: list[str] = []
            if multi and part_title:
                self.sections.append(Section(len(self.sections) + 1, part_title, part_title, 0, "", p.lines[0].no))
                chain = [part_title]
            if p in structured:
                pre, clo = self._structured(p.lines, chain)
            else:
                pre, clo = self._paragraphs(p.lines, chain)
            if not name:
                name = part_title or next((x for x in pre if r.is_titleish(x) and not r.is_org_line(x)), "")
            preamble += pre
            closing += clo
        if not self.clauses:
            raise self.fail(self.lines[-1].no, "no clause found")
        return preamble, closing, name or title, doc_contact

    def _paragraphs(self, lines: list[_Line], chain: list[str]) -> tuple[list[str], list[str]]:
        """A body without numbered items: each paragraph is a clause labelled 第N段."""
        r = self.r
        preamble: list[str] = []
        closing: list[str] = []
        paras: list[list[_Line]] = []
        k = 0
        while k < len(lines) and (r.is_intro(lines[k].text) or (not paras and r.is_titleish(lines[k].text))):
            preamble.append(lines[k].text)
            k += 1
        end = len(lines)
        for j in range(k, len(lines)):
            if r.is_closing(lines[j].text):
                end = j
                break
        closing = [x.text for x in lines[end:] if not r.is_units_line(x.text)]
        for x in lines[k:end]:
            if _BROKEN_HEADING.match(x.text):
                raise self.fail(x.no, f"numbering is unreadable: {x.text[:20]}")
            if r.is_units_line(x.text):
                if not paras:
                    raise self.fail(x.no, "units printed before any paragraph")
                paras[-1].append(x)
            else:
                paras.append([x])
        for n, para in enumerate(paras, 1):
            self._add_clause(f"第{n}段", " ".join(chain), para[0].no, para)
        return preamble, closing

    def _structured(self, lines: list[_Line], chain: list[str]) -> tuple[list[str], list[str]]:
        root = _Node(None, 0)
        stack = [root]
        preamble: list[str] = []
        last_of_kind: dict[str, int] = {}
        for ln in lines:
            h = _heading(ln.text)
            if h is None and _BROKEN_HEADING.match(ln.text):
                raise self.fail(ln.no, f"numbering is unreadable: {ln.text[:20]}")
            if h is None:
                if stack[-1] is root:
                    preamble.append(ln.text)
                else:
                    stack[-1].texts.append(ln)
                continue
            while stack[-1].rank >= h.rank:
                stack.pop()
            parent = stack[-1]
            siblings = [c for c in parent.children if c.heading and c.heading.kind == h.kind]
            prev = last_of_kind.get(h.kind)
            if siblings:
                allowed = {siblings[-1].heading.number + 1}  # type: ignore[union-attr]
            elif h.kind in (PART, CHAPTER, ARTICLE, JIE) or parent is root:
                allowed = {(prev or 0) + 1}
            else:
                allowed = {1} | ({prev + 1} if prev else set())
            if h.number not in allowed:
                want = " or ".join(_label_of(h.kind, n, h) for n in sorted(allowed, reverse=True))
                if h.number < max(allowed):
                    # backwards or repeated: the structure is not what we think it is
                    raise self.fail(ln.no, f"{h.label} out of order: expected {want}")
                # a number skipped forward is a misprint seen in published notices (or a heading that lost its
                # number, its text now part of the clause before): kept as printed, reported, never dropped
                self.warnings.append(f"line {ln.no}: {h.label} skips ahead (expected {want}); kept as printed")
            last_of_kind[h.kind] = h.number
            node = _Node(h, ln.no)
            parent.children.append(node)
            stack.append(node)
        # paragraphs after the last item that speak about the document itself are its closing provisions
        closing: list[str] = []
        last = root
        while last.children:
            last = last.children[-1]
        if last is not root and (last.heading is None or last.heading.kind != ARTICLE):
            for j, x in enumerate(last.texts):
                if self.r.is_closing(x.text):
                    closing = [y.text for y in last.texts[j:]]
                    del last.texts[j:]
                    break
        for c in root.children:
            self._emit(c, chain, 1)
        return preamble, closing

    def _lead_in_list(self, node: _Node) -> bool:
        """Text under the heading that announces its items ("须具备下列条件之一：", "上传下列材料：") followed by
        plain items (no units, no sub-items of their own): the items are that sentence's list, one clause with it,
        as an article keeps its enumeration."""
        return (
            bool(node.texts)
            and node.texts[-1].text.rstrip().endswith(("：", ":"))
            and not self.r.is_intro(node.texts[-1].text)
            and all(not c.children and not self._own_units(c) for c in node.children)
        )

    def _enumeration(self, node: _Node) -> bool:
        """Plain items that are the members of one list, each but the last ending in ；("（1）申请表；（2）见习协议；
        （3）发放凭证。" under "四、申请材料"): one clause, as a lead-in's list is, never fragments that no answer
        can quote whole."""
        kids = node.children
        if len(kids) < 2 or any(c.children or self._own_units(c) for c in kids):
            return False
        last = [(c.texts[-1].text if c.texts else c.heading.rest if c.heading else "").rstrip() for c in kids]
        return all(t.endswith(("；", ";")) for t in last[:-1])

    def _own_units(self, node: _Node) -> bool:
        texts = [node.heading.rest if node.heading else ""] + [x.text for x in node.texts]
        return bool(self.r.trailing_parentheticals("".join(texts))[1])

    def _titled(self, h: _Heading) -> bool:
        """A heading that names a topic ("一、总体要求") rather than starting a sentence ("一、补贴对象。…")."""
        rest = h.rest
        return (
            h.kind != ARTICLE
            and bool(rest)
            and len(rest) <= 40
            and rest[-1] not in _TERMINAL + "，,、"
            and not any(c in rest for c in SENTENCE_END)
        )

    def _heading_sentence(self, h: _Heading) -> bool:
        """A heading printed as one short sentence of its own ("一、扩大贷款支持对象范围。"): over sub-points it
        names their topic as a titled heading does, so each sub-point stays a clause."""
        rest = h.rest
        return (
            h.kind != ARTICLE
            and 1 < len(rest) <= 40
            and rest[-1] in SENTENCE_END
            and not any(c in rest[:-1] for c in SENTENCE_END + "，,、：:")
        )

    def _emit(self, node: _Node, chain: list[str], level: int) -> None:
        h = node.heading
        assert h is not None
        if h.kind in (CHAPTER, JIE):
            if node.texts:
                x = node.texts[0]
                raise self.fail(x.no, f"text under {h.printed} outside any article: {x.text[:30]}")
            if not node.children:
                raise self.fail(node.line, f"{h.printed} has no articles")
            self._section(node, level)
            for c in node.children:
                self._emit(c, [*chain, h.printed], level + 1)
            return
        titled = self._titled(h)
        if (
            h.kind != ARTICLE
            and node.children
            and (titled or self._heading_sentence(h) or all(self._own_units(c) for c in node.children))
            and not self._lead_in_list(node)
            and not self._enumeration(node)
        ):
            for x in node.texts:
                if self.r.is_units_line(x.text):
                    raise self.fail(x.no, f"units under the heading {h.label} outside any clause")
            self._section(node, level, intro="".join(x.text for x in node.texts))
            if node.texts and not all(self.r.is_intro(x.text) for x in node.texts):
                # text printed under the heading before its first item states something too ("可以破格申报，
                # 提前年限最多不超过2年"; "通过…系统填报"): it is a clause of its own, labelled by the heading,
                # never context that no answer can quote
                self._add_clause(h.label, " ".join([*chain, h.printed]), node.texts[0].no, list(node.texts))
            for c in node.children:
                self._emit(c, [*chain, h.printed], level + 1)
            return
        pieces: list[_Line] = []
        if not titled and h.rest:
            pieces.append(_Line(node.line, h.rest))
        pieces += node.texts

        def flatten(n: _Node) -> None:
            for c in n.children:
                pieces.append(_Line(c.line, c.heading.printed if c.heading else ""))
                pieces.extend(c.texts)
                flatten(c)

        flatten(node)
        section = [*chain, h.printed] if titled else chain
        if titled:
            self._section(node, level)
        self._add_clause(h.label, " ".join(section), node.line, pieces)

    def _section(self, node: _Node, level: int, intro: str = "") -> None:
        h = node.heading
        assert h is not None
        title = h.rest
        self.sections.append(Section(len(self.sections) + 1, h.printed, title, level, h.label, node.line, intro))

    def _add_clause(self, label: str, section: str, line: int, pieces: list[_Line]) -> None:
        full = join_lines(p.text for p in pieces)
        body, parts = self.r.trailing_parentheticals(full)
        mid = self.r.units_anywhere.search(body)
        if mid:
            offset, at = mid.start(), line
            pos = 0
            for p in pieces:
                if pos + len(p.text) > offset:
                    at = p.no
                    break
                pos += len(p.text)
            raise self.fail(at, f"clause {label}: text after its units; units end a clause")
        if not body:
            raise self.fail(line, f"clause {label} has no text")
        units, units_text, kind, cooperating, contact = self.r.read_units(parts)
        if parts and not units and not contact:
            raise self.fail(line, f"clause {label} names no unit in its units parenthetical")
        sentences = split_sentences(body)
        self.clauses.append(
            Measure(
                doc=self.slug,
                number=len(self.clauses) + 1,
                label=label,
                section=section,
                text=body,
                sentences=sentences,
                units=units,
                units_text=units_text,
                line=line,
                unit_kind=kind,
                cooperating_units=cooperating,
                contact=contact,
                about_document=self.r.about_document(sentences),
            )
        )

    # ---- validity ----------------------------------------------------------------------------------
    def _validity(self, closing: list[str], date_iso: str) -> tuple[str, str, tuple[str, ...]]:
        r = self.r
        sentences = [s for c in self.clauses for s in c.sentences] + [s for p in closing for s in split_sentences(p)]
        effective = expires = ""
        years: int | None = None
        supersedes: list[str] = []
        for s in sentences:
            about_doc = bool(r.self_ref.search(s))
            if not effective:
                if m := r.effective_on_issue.search(s):
                    effective = date_iso
                elif about_doc and (m := r.effective_on.search(s)):
                    effective = r.vdate_iso(m.group(1))
            if about_doc and not expires:
                if m := r.valid_range.search(s):
                    effective = effective or r.vdate_iso(m.group(1))
                    expires = r.vdate_iso(m.group(2))
                elif m := r.valid_until.search(s):
                    expires = r.vdate_iso(m.group(1))
                elif years is None and (m := r.valid_years.search(s)):
                    years = chinese_numeral(m.group(1))
            if any(k in s for k in self.terms.repeal_markers):
                numbers = [re.sub(r"\s+", "", n) for n in DOCNO_RE.findall(s)]
                supersedes += numbers or _TITLE_QUOTE.findall(s)
        if not expires and years:
            start = effective or date_iso
            expires = _add_years_minus_one_day(start, years) if start else ""
        return effective, expires, tuple(dict.fromkeys(supersedes))


# --- entry points ---------------------------------------------------------------------------------------
def _slug(path: Path) -> str:
    return slug_for(path.name)


def slug_for(filename: str) -> str:
    """The document id for a file name: ASCII letters, digits, ``.``, ``_`` and ``-``, lower case."""
    stem = Path(filename).stem
    slug = re.sub(r"[^0-9A-Za-z._-]+", "-", stem).strip("-.").lower()
    return slug or hashlib.sha1(stem.encode()).hexdigest()[:12]


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MalformedNotice(str(path), line, "not valid UTF-8 text") from exc


def parse_text(
    text: str,
    *,
    source: str,
    slug: str,
    path: str = "",
    sha256: str | None = None,
    terms: NoticeTerms | None = None,
) -> Document:
    """Parse a notice's text. ``source`` names it in errors (file name); ``slug`` becomes the document id."""
    if "\x00" in text:
        raise MalformedNotice(source, text[: text.index("\x00")].count("\n") + 1, "NUL byte in text")
    digest = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
    parser = _NoticeParser(source, slug, text, terms or NoticeTerms.load())
    return parser.parse(digest, path or source)


def parse_notice(path: Path, *, terms: NoticeTerms | None = None) -> Document:
    """Parse one notice file. Raises :class:`MalformedNotice` with file and line on any shape error."""
    raw = path.read_bytes()
    text = _decode(path, raw)
    return parse_text(
        text, source=str(path), slug=_slug(path), path=str(path), sha256=hashlib.sha256(raw).hexdigest(), terms=terms
    )


def load_sources(paths: Iterable[Path], *, terms: NoticeTerms | None = None) -> list[Document]:
    """Parse several notices; slugs must be unique so measure ids stay stable across notices."""
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for p in sorted(paths):
        doc = parse_notice(p, terms=terms)
        if doc.slug in seen:
            raise MalformedNotice(str(p), 1, f"document id {doc.slug!r} already used by {seen[doc.slug]}")
        seen[doc.slug] = str(p)
        docs.append(doc)
    return docs


def source_files(sources_dir: Path) -> list[Path]:
    """The notice files of a sources directory (``*.txt``), sorted for stable ids and hashes."""
    return sorted(p for p in sources_dir.glob("*.txt") if p.is_file())
