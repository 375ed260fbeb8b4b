"""The grounding guard: generated text may restate the decision, never add a fact to it.

Pure functions over plain values. A :class:`Grounding` holds everything a reply may draw on - the question,
the cited measures (label, section, verbatim sentences), the decision's offices, the contact strings
(city bureau, hotline) and the cited documents - plus what the guard must recognise as *foreign*: every
office name the directory knows and every measure label of the corpus. :func:`check` extracts the claims a
reply makes and returns a :class:`GuardVerdict` naming each ungrounded claim and the rule it broke:

* ``number`` - a figure with its unit (``1000名``, ``一千名``, ``１０００名``, ``10万人次``, ``60万元``,
  ``百分之五十``, or a bare number) must occur, as the same value and unit, in the grounding. Values are
  normalised: ``一千名 == 1000名 == 1,000名``, ``十万人次 == 10万人次 == 100000人次``, ``60万元 == 600000元``.
  The number of the decision's offices counts as grounded (``…等7个单位``);
* ``date`` - ``2022年5月23日``, ``二〇二二年五月二十三日``, ``2022年5月`` must agree with a date of the grounding
  on every field they state;
* ``doc_number`` - a 文号 (``苏人社发〔2022〕35号``) must occur in the grounding;
* ``measure`` - a measure label (``（七）``, ``第七条``, ``第7条``) must be one the decision cites;
* ``office`` - a directory office (short or full name, city bureau) must be one of the decision's, and an
  office-like name the directory does not know (``…处/局/中心/厅``, ``省…办``) must occur in the grounding;
* ``quoted_name`` - a name in quotation marks (“苏畅卡”) must occur in the grounding;
* ``quote`` - text presented as a quote (``「…」``, or “…” after 原文/写明/规定…, or a quoted sentence) must be
  verbatim in a cited measure, sentence by sentence (the composer quotes the sentences that answer, which
  need not be adjacent); ``……`` may join verbatim pieces;
* ``title`` - a title in 《…》 must occur in the grounding.

Comparison is on NFKC text without whitespace (full-width digits and punctuation match their ASCII forms).
The vocabulary (units, idioms, office suffixes, quote cues) is data: ``index/guard.json``.

Example::

    >>> g = Grounding(question="每年选多少人", measures=(MeasureFacts("doc", 3, "（三）", "二、…",
    ...     ("每年遴选培育1000名数字经济领域优秀工程技术人才。",)),), offices=(OfficeFacts("专技处"),))
    >>> check("每年培育一千名人才，由专技处负责。", g).ok
    True
    >>> [(v.rule, v.claim) for v in check("每年培育2000名人才。", g).violations]
    [('number', '2000名')]
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Literal

import cn2an

from bot.config import REPO_ROOT
from bot.ingest import cited_label

NUMBER = "number"
DATE = "date"
DOC_NUMBER = "doc_number"
MEASURE = "measure"
OFFICE = "office"
QUOTED_NAME = "quoted_name"
QUOTE = "quote"
TITLE = "title"
RULES = (NUMBER, DATE, DOC_NUMBER, MEASURE, OFFICE, QUOTED_NAME, QUOTE, TITLE)

DEFAULT_RULES_PATH = REPO_ROOT / "index" / "guard.json"

# quotation marks: opener -> closer. Inner marks are stripped before verbatim comparison.
_PAIRS = {"“": "”", "「": "」", "『": "』", "《": "》", "‘": "’"}
_QUOTE_CHARS = "“”「」『』‘’\"'《》"
_SENTENCE_PUNCT = ",，。;；!！?？:："
_CJK = r"\u3400-\u9fff"
_CN_DIGIT = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_MASK = "\u25a0"  # replaces spans already read so later patterns do not read them again
# where a quote may join verbatim pieces: an ellipsis, or after a sentence end (NFKC forms)
_QUOTE_JOINS = re.compile(r"\.{2,}|…+|(?<=[。;!?])")


# --- the grounding -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeasureFacts:
    """One cited measure as printed: its sentences are what a quote must match verbatim."""

    doc: str
    number: int
    label: str
    section: str
    sentences: tuple[str, ...]
    quote: str = ""

    @property
    def text(self) -> str:
        return "".join(self.sentences)

    @property
    def cited(self) -> str:
        return cited_label(self.label)


@dataclass(frozen=True)
class OfficeFacts:
    """A responsible unit of the decision: the short name as printed, a confirmed full name, its kind."""

    name: str
    full_name: str | None = None
    kind: str | None = None
    handles: str | None = None


@dataclass(frozen=True)
class Grounding:
    """Everything a generated reply may draw on, and what it must not name.

    ``known_offices``: every office name of the directory (short and full names, city bureaus, the issuer),
    so that a foreign or renamed one is recognised; ``corpus_labels``: every measure label of the corpus.
    ``contact``: strings the reply may use to say where to go (city bureau, hotline number and name).
    ``sources``: title, issuer and date of each cited document. ``kind`` is ``partial`` when the decision
    answers only part of the question; ``not_covered`` then says which part, in the decision's words.
    """

    question: str
    measures: tuple[MeasureFacts, ...]
    offices: tuple[OfficeFacts, ...] = ()
    known_offices: frozenset[str] = frozenset()
    corpus_labels: frozenset[str] = frozenset()
    contact: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kind: Literal["answer", "partial"] = "answer"
    not_covered: tuple[str, ...] = ()

    @property
    def allowed_offices(self) -> frozenset[str]:
        names = {o.name for o in self.offices} | {o.full_name for o in self.offices if o.full_name}
        return frozenset(names)

    def texts(self) -> Iterator[str]:
        """Every text a claim may be grounded in."""
        yield self.question
        for m in self.measures:
            yield m.label
            yield m.section
            yield from m.sentences
        for o in self.offices:
            yield from (x for x in (o.name, o.full_name, o.kind, o.handles) if x)
        yield from self.contact
        yield from self.sources


def build_grounding(
    question: str,
    measures: Iterable[MeasureFacts],
    offices: Iterable[OfficeFacts],
    *,
    known_offices: Iterable[str] = (),
    corpus_labels: Iterable[str] = (),
    contact: Iterable[str | None] = (),
    sources: Iterable[str | None] = (),
    kind: Literal["answer", "partial"] = "answer",
    not_covered: Iterable[str] = (),
) -> Grounding:
    """A :class:`Grounding` from plain values (any iterables; empty and None entries dropped)."""
    return Grounding(
        question=question,
        measures=tuple(measures),
        offices=tuple(offices),
        known_offices=frozenset(n for n in known_offices if n),
        corpus_labels=frozenset(x for x in corpus_labels if x),
        contact=tuple(c for c in contact if c),
        sources=tuple(s for s in sources if s),
        kind=kind,
        not_covered=tuple(x for x in not_covered if x),
    )


# --- verdicts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    rule: str
    claim: str


@dataclass(frozen=True)
class GuardVerdict:
    violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def first(self) -> Violation | None:
        return self.violations[0] if self.violations else None


# --- vocabulary ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuardRules:
    """The guard's vocabulary (``index/guard.json``), compiled once."""

    units: dict[str, tuple[str, Decimal]]
    magnitudes: dict[str, Decimal]
    percent_prefix: str
    numeral_chars: str
    numeral_digits: str
    approximate_after: str
    idioms: tuple[str, ...]
    office_suffixes: tuple[str, ...]
    office_suffix_breakers: dict[str, str]
    office_min_grounded_tail: int
    bureau_pattern: re.Pattern[str]
    common_words: frozenset[str]
    name_boundaries: tuple[str, ...]
    generic_offices: tuple[str, ...]
    quote_cues: tuple[str, ...]
    quote_cue_window: int
    quote_min_sentence_chars: int
    office_count: str = ""  # how a reply counts the decision's offices ({count}), e.g. the composer's summary
    number_pattern: re.Pattern[str] = field(repr=False, default=re.compile(""))
    percent_pattern: re.Pattern[str] = field(repr=False, default=re.compile(""))

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> GuardRules:
        units_raw = raw["units"]
        assert isinstance(units_raw, dict)
        units = {_nfkc(k): (str(v[0]), Decimal(str(v[1]))) for k, v in units_raw.items()}
        mags_raw = raw["magnitudes"]
        assert isinstance(mags_raw, dict)
        mags = {k: Decimal(str(v)) for k, v in mags_raw.items()}
        numeral_chars = str(raw["numeral_chars"])
        unit_alt = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
        mag_class = "".join(re.escape(m) for m in mags)
        number = re.compile(
            rf"(?:(?P<ar>(?<![\d.])\d{{1,3}}(?:,\d{{3}})+(?![\d])|(?<![\d.])\d+(?:\.\d+)?)\s*(?P<mag>[{mag_class}]?)"
            rf"|(?P<cn>[{re.escape(numeral_chars)}]+))\s*(?P<unit>{unit_alt})?"
        )
        percent = re.compile(
            rf"{re.escape(str(raw['percent_prefix']))}\s*(?P<v>\d+(?:\.\d+)?|[{re.escape(numeral_chars)}]+)"
        )
        breakers_raw = raw["office_suffix_breakers"]
        assert isinstance(breakers_raw, dict)
        prefixes = re.escape(str(raw["bureau_pattern_prefixes"]))
        bureau = re.compile(
            rf"[{prefixes}][{_CJK}]{{1,4}}{re.escape(str(raw['bureau_pattern_suffix']))}"
            rf"(?![{re.escape(str(raw['bureau_pattern_breakers']))}])"
        )

        def strings(key: str) -> tuple[str, ...]:
            value = raw[key]
            assert isinstance(value, list)
            return tuple(_nfkc(str(x)) for x in value)

        return cls(
            units=units,
            magnitudes=mags,
            percent_prefix=str(raw["percent_prefix"]),
            numeral_chars=numeral_chars,
            numeral_digits=str(raw["numeral_digits"]),
            approximate_after=str(raw["approximate_after"]),
            idioms=tuple(sorted(strings("idioms"), key=len, reverse=True)),
            office_suffixes=tuple(sorted(strings("office_suffixes"), key=len, reverse=True)),
            office_suffix_breakers={str(k): str(v) for k, v in breakers_raw.items()},
            office_min_grounded_tail=int(str(raw["office_min_grounded_tail"])),
            bureau_pattern=bureau,
            common_words=frozenset(strings("common_words")),
            name_boundaries=tuple(sorted(strings("name_boundaries"), key=len, reverse=True)),
            generic_offices=strings("generic_offices"),
            quote_cues=strings("quote_cues"),
            quote_cue_window=int(str(raw["quote_cue_window"])),
            quote_min_sentence_chars=int(str(raw["quote_min_sentence_chars"])),
            office_count=str(raw.get("office_count", "")),
            number_pattern=number,
            percent_pattern=percent,
        )

    @classmethod
    def load(cls, path: Path) -> GuardRules:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


@cache
def default_rules() -> GuardRules:
    return GuardRules.load(DEFAULT_RULES_PATH)


# --- claims ----------------------------------------------------------------------------------------------
ClaimKind = Literal["number", "date", "doc_number", "measure", "quoted_name", "quote", "title"]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a text: ``key`` is its normalised value (compared), ``text`` as written."""

    kind: ClaimKind
    text: str
    key: object


_DOC_NUMBER = re.compile(rf"[{_CJK}]{{0,8}}[〔\[【(]\s*((?:19|20)\d{{2}})\s*[〕\]】)]\s*第?\s*(\d{{1,4}})\s*号")
_CN_YEAR = "〇零一二三四五六七八九"
_CN_SMALL = "一二三四五六七八九十"
_DATE = re.compile(
    rf"(?:(?P<y>(?:19|20)\d{{2}}|[{_CN_YEAR}]{{4}})\s*年\s*)?"
    rf"(?:(?P<m>1[0-2]|0?[1-9]|[{_CN_SMALL}]{{1,3}})\s*月\s*"
    rf"(?:(?P<d>3[01]|[12]\d|0?[1-9]|[{_CN_SMALL}]{{1,3}})\s*[日号])?)?"
)
_LABEL_ORDINAL = re.compile(r"第\s*\(?\s*([一二三四五六七八九十百]{1,4}|\d{1,3})\s*\)?\s*[条项]")
_LABEL_PAREN = re.compile(r"\(\s*([一二三四五六七八九十]{1,3})\s*\)")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def flat(text: str) -> str:
    """The comparison form: NFKC, no whitespace, no quotation marks."""
    t = _nfkc(text)
    return "".join(c for c in t if not c.isspace() and c not in _QUOTE_CHARS)


def _cn_int(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def _cn_year(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if all(c in _CN_DIGIT for c in text):
        return int("".join(str(_CN_DIGIT[c]) for c in text))
    return None


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)).normalize()
    except (InvalidOperation, ValueError):
        return None


def _mask(chars: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        chars[i] = _MASK


def _quoted_spans(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, opener, inner text) of each outermost quotation, nesting-aware."""
    i = 0
    while i < len(text):
        opener = text[i]
        closer = _PAIRS.get(opener)
        if closer is None:
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(text) and depth:
            if text[j] == opener and opener != closer:
                depth += 1
            elif text[j] == closer:
                depth -= 1
            j += 1
        if depth:  # unclosed at the end of the reply: everything after the mark is what it quotes
            yield i, len(text), opener, text[i + 1 :]
            return
        yield i, j, opener, text[i + 1 : j - 1]
        i = j


def extract_claims(text: str, rules: GuardRules | None = None) -> list[Claim]:
    """Every number, date, 文号, measure label, quoted name, quote and title in ``text`` (office names are
    checked separately, against the directory: see :func:`check`)."""
    rules = rules or default_rules()
    t = _nfkc(text)
    chars = list(t)
    claims: list[Claim] = []

    for start, end, opener, inner in _quoted_spans(t):
        if opener == "《":
            claims.append(Claim("title", t[start:end], flat(inner)))
            continue
        if opener == "‘":
            continue  # single quotes only ever nest inside a quote, which is checked whole
        before = t[max(0, start - rules.quote_cue_window) : start]
        sentence_like = len(inner) >= rules.quote_min_sentence_chars or any(c in _SENTENCE_PUNCT for c in inner)
        is_quote = opener in "「『" or sentence_like or any(cue in before for cue in rules.quote_cues)
        kind: ClaimKind = "quote" if is_quote else "quoted_name"
        claims.append(Claim(kind, t[start:end], flat(inner)))

    for m in _DOC_NUMBER.finditer(t):
        claims.append(Claim("doc_number", m.group(0), (int(m.group(1)), int(m.group(2)))))
        _mask(chars, m.start(), m.end())

    work = "".join(chars)
    for m in _DATE.finditer(work):
        if not m.group(0).strip() or (m.group("y") is None and m.group("m") is None):
            continue
        year = _cn_year(m.group("y")) if m.group("y") else None
        month = _cn_int(m.group("m")) if m.group("m") else None
        day = _cn_int(m.group("d")) if m.group("d") else None
        claims.append(Claim("date", m.group(0).strip(), (year, month, day)))
        _mask(chars, m.start(), m.end())

    work = "".join(chars)
    for pattern in (_LABEL_ORDINAL, _LABEL_PAREN):
        for m in pattern.finditer(work):
            n = _cn_int(m.group(1))
            if n is not None:
                claims.append(Claim("measure", m.group(0), n))
                _mask(chars, m.start(), m.end())
        work = "".join(chars)

    for idiom in rules.idioms:
        for m in re.finditer(re.escape(idiom), work):
            # 一个 is a word, but 一个月 a duration: keep a numeral whose unit reaches past the idiom
            reading = rules.number_pattern.match(work, m.start())
            if reading is not None and reading.group("unit") and reading.end() > m.end():
                continue
            _mask(chars, m.start(), m.end())
        work = "".join(chars)

    for m in rules.percent_pattern.finditer(work):
        value = _decimal(m.group("v")) if m.group("v")[0].isdigit() else _decimal(_cn_int(m.group("v")))
        if value is not None:
            claims.append(Claim("number", m.group(0), (value, "%")))
            _mask(chars, m.start(), m.end())
    work = "".join(chars)

    for m in rules.number_pattern.finditer(work):
        claim = _number_claim(m, work, rules)
        if claim is not None:
            claims.append(claim)
    return claims


def _number_claim(m: re.Match[str], work: str, rules: GuardRules) -> Claim | None:
    unit_text = m.group("unit")
    unit, factor = rules.units[unit_text] if unit_text else ("", Decimal(1))
    if m.group("ar") is not None:
        value = _decimal(m.group("ar").replace(",", ""))
        if value is None:
            return None
        if m.group("mag"):
            value *= rules.magnitudes[m.group("mag")]
    else:
        cn = m.group("cn")
        if not any(c in rules.numeral_digits for c in cn):
            return None  # 千万, 万 alone: words, not numbers
        if m.start() > 0 and work[m.start() - 1] == "第":
            return None  # an ordinal (第三代), not an amount
        after = work[m.end() : m.end() + 1]
        if not unit_text and (after and after in rules.approximate_after):
            return None  # 十几年, 一百多: the citizen's own estimate, no figure
        if not unit_text and not any(c in rules.magnitudes or c == "十" for c in cn):
            return None  # a bare 三 or 一 is a word (三方, 一流), not a figure
        parsed = None
        try:
            parsed = cn2an.cn2an(cn, "smart")
        except (ValueError, KeyError, IndexError):
            return None
        value = _decimal(parsed)
        if value is None:
            return None
    value = (value * factor).normalize()
    return Claim("number", m.group(0).strip(), (value, unit))


# --- checking ----------------------------------------------------------------------------------------
class Checker:
    """The grounded claims of one :class:`Grounding`, read once; ``check`` any number of texts against it
    (the streaming path checks the growing reply after every sentence)."""

    def __init__(self, grounding: Grounding, rules: GuardRules | None = None) -> None:
        self.grounding = grounding
        self.rules = rules or default_rules()
        texts = [t for t in grounding.texts() if t]
        if grounding.offices and self.rules.office_count:
            # the number of the decision's offices is a fact of the decision ("…等7个单位")
            texts.append(self.rules.office_count.format(count=len(grounding.offices)))
        self.blob = flat("\n".join(texts))
        self.measure_blob = flat("\n".join(m.text for m in grounding.measures))
        # the offices' kinds as the directory words them (省人社厅内设局): a name may repeat one
        self.kind_blob = flat("\n".join(o.kind for o in grounding.offices if o.kind))
        numbers: set[tuple[Decimal, str]] = set()
        dates: list[tuple[int | None, int | None, int | None]] = []
        doc_numbers: set[object] = set()
        for t in texts:
            for c in extract_claims(t, self.rules):
                if c.kind == "number":
                    assert isinstance(c.key, tuple)
                    numbers.add(c.key)
                elif c.kind == "date":
                    assert isinstance(c.key, tuple)
                    dates.append(c.key)
                elif c.kind == "doc_number":
                    doc_numbers.add(c.key)
        self.numbers = numbers
        # a bare figure (no unit) is grounded by the same value anywhere, a date's parts included
        self.number_values = {v for v, _ in numbers} | {Decimal(p) for d in dates for p in d if p is not None}
        self.dates = dates
        self.identifiers = {v for v, u in numbers if u == "" and v >= 10000 and v == v.to_integral_value()}
        self.doc_numbers = doc_numbers
        self.cited_numbers = {m.number for m in grounding.measures}
        allowed = {_nfkc(x) for x in grounding.allowed_offices}
        allowed |= {_nfkc(x) for x in (*grounding.contact, *grounding.sources)}  # the city bureau, the issuer
        allowed |= set(self.rules.generic_offices)
        self.allowed_offices = allowed
        foreign = {_nfkc(x) for x in grounding.known_offices} - allowed
        # longest first, allowed and foreign together: 无锡市人力资源和社会保障局 is read whole, not as the
        # generic 人力资源和社会保障局 it ends with
        self.office_names = sorted(((n, n in foreign) for n in allowed | foreign), key=lambda p: -len(p[0]))

    # --- one claim ---------------------------------------------------------------------------------
    def grounded(self, claim: Claim) -> bool:
        if claim.kind == "number":
            assert isinstance(claim.key, tuple)
            value, unit = claim.key
            if unit == "":
                return value in self.number_values
            # a number the grounding prints bare with five digits or more is an identifier (the 12333 hotline):
            # a following word that reads as a unit ("12333人力资源…") does not make it a new figure
            return (value, unit) in self.numbers or value in self.identifiers
        if claim.kind == "date":
            assert isinstance(claim.key, tuple)
            return any(all(c is None or c == g for c, g in zip(claim.key, known, strict=True)) for known in self.dates)
        if claim.kind == "doc_number":
            return claim.key in self.doc_numbers
        if claim.kind == "measure":
            return claim.key in self.cited_numbers
        if claim.kind == "quote":
            assert isinstance(claim.key, str)
            # whole sentences each verbatim: the composer quotes the sentences that answer, not always adjacent ones
            pieces = [p for p in _QUOTE_JOINS.split(claim.key) if p]
            return bool(pieces) and all(p in self.measure_blob for p in pieces)
        assert isinstance(claim.key, str)
        return bool(claim.key) and claim.key in self.blob

    # --- offices -------------------------------------------------------------------------------------
    def office_violations(self, text: str) -> list[Violation]:
        """Directory offices not in the decision, and office-like names that occur nowhere in the grounding."""
        r = self.rules
        t = _nfkc(text)
        chars = list(t)
        out: list[Violation] = []
        for name, is_foreign in self.office_names:
            work = "".join(chars)
            for m in re.finditer(re.escape(name), work):
                if is_foreign and not self._in_grounded_phrase(t, m.start(), m.end()):
                    out.append(Violation(OFFICE, name))
                _mask(chars, m.start(), m.end())
        work = "".join(chars)
        for suffix in r.office_suffixes:
            for m in re.finditer(re.escape(suffix), work):
                found = self._office_like(work, m.start(), m.end(), suffix)
                if found is not None:
                    out.append(Violation(OFFICE, found))
        for m in r.bureau_pattern.finditer(work):
            name = self._strip_boundaries(m.group(0))
            if flat(name) not in self.blob:
                out.append(Violation(OFFICE, name))
        return out

    def _in_grounded_phrase(self, text: str, start: int, end: int) -> bool:
        """A directory name used inside a longer phrase of the grounding (人才市场 in 数字经济人才市场)."""
        for k in range(1, 9):
            if start - k < 0:
                break
            if flat(text[start - k : end]) in self.measure_blob:
                return True
        return False

    def _strip_boundaries(self, run: str) -> str:
        """The name part of a run: what follows the last boundary word (请联系就业处 -> 就业处)."""
        best = 0
        for b in self.rules.name_boundaries:
            i = run.rfind(b)
            if i >= 0:
                best = max(best, i + len(b))
        return run[best:]

    def _office_like(self, work: str, start: int, end: int, suffix: str) -> str | None:
        """The ungrounded office-like name ending at ``end``, or None when it is grounded or not a name."""
        r = self.rules
        nxt = work[end : end + 1]
        if nxt and nxt in r.office_suffix_breakers.get(suffix, ""):
            return None  # 处理, 局面, 厅长: another word
        left = start
        while left > 0 and start - left < 12 and re.match(rf"[{_CJK}]", work[left - 1]):
            left -= 1
        run = work[left:end]
        if len(run) <= len(suffix):
            return None
        for w in r.common_words:
            if run.endswith(w):
                return None
        name = self._strip_boundaries(run[: -len(suffix)]) + suffix
        if len(name) <= len(suffix):
            return None
        if flat(name) in self.kind_blob:
            return None
        # grounded: ends in an allowed name, or a long enough tail is a phrase of the grounding
        for k in range(len(suffix) + 1, len(name) + 1):
            tail = name[-k:]
            if tail in r.generic_offices or tail in self.allowed_offices:
                return None
            if k >= r.office_min_grounded_tail and flat(tail) in self.blob:
                return None
        if len(name) < len(suffix) + 2:
            return None  # a one-character prefix (此处, 各局) is too short to be a name
        return name

    # --- the whole text -------------------------------------------------------------------------------
    def check(self, text: str) -> GuardVerdict:
        rule_of = {"quote": QUOTE, "quoted_name": QUOTED_NAME, "title": TITLE}
        out: list[Violation] = []
        for c in extract_claims(text, self.rules):
            if not self.grounded(c):
                out.append(Violation(rule_of.get(c.kind, c.kind), c.text))
        out.extend(self.office_violations(text))
        return GuardVerdict(tuple(out))


def check(text: str, grounding: Grounding, rules: GuardRules | None = None) -> GuardVerdict:
    """The verdict on ``text``: ok, or each ungrounded claim with the rule it broke."""
    return Checker(grounding, rules).check(text)
