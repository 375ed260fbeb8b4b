"""Compose: turn a scope decision into the reply a citizen reads. Pure: same inputs, same text; no I/O.

A first answer leads with the answer itself in the notice's words (the printed figure, or the sentence that
answers), then the clause it comes from, the rest of the quote (only what the lead does not already say), the
responsible units as one line of short names as printed, where to go (the citizen's city bureau or 12333) and
the source. Fixed notes (conditions, source) appear once per conversation. Directory facts (full names, what a
unit handles, unconfirmed marks) stay in the structured ``offices`` field, and enter the text only when the
citizen asks which office. Every {field} of ``prompts/answer.toml`` is filled from the notices, the office
directory or the citizen's own words, so the reply states nothing else.

Example::

    >>> view = compose(decision, session, ComposeContext(directory, templates, documents))
    >>> view.answer.lead
    '文件写明：每年遴选培育1000名数字经济领域优秀工程技术人才。'
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.ingest import Document, Measure
from bot.models import Answer, Citation, OfficeRef, Session, SourceRef
from bot.offices import OfficeDirectory
from bot.retrieve import MeasureHit
from bot.scope import Decision, Outcome, Reason

# pieces of a sentence end at commas, semicolons and colons - not inside a time or a number (9:00, 1,000)
_CLAUSE_SPLIT = re.compile(r"(?<=[，；：;])|(?<=[,:])(?!\d)")
_ASKED = ("？", "?")  # a sentence ending so asks (a 政策问答's 问：…？): it is never the statement that answers
_DIGIT = re.compile(r"\d")


class Mode(StrEnum):
    """What kind of turn the reply answers."""

    FIRST = "first"  # a question about a topic
    OFFICE = "office"  # "这个找哪个部门": the offices of the clause in play
    CITY = "city"  # "我在苏州": the city's bureau for the clause in play
    FOLLOWUP = "followup"  # another question about the clause in play
    REPEAT = "repeat"  # the same question again


class Templates:
    """``prompts/answer.toml``: one table per language."""

    def __init__(self, path: Path) -> None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            self.budget: dict[str, int] = {k: int(v) for k, v in raw.get("budget", {}).items()}
            self.premise_endings: tuple[str, ...] = tuple(raw.get("lead", {}).get("premise_endings", []))
            self.langs: dict[str, dict[str, Any]] = {k: raw[k] for k in ("zh", "en")}
            for table in self.langs.values():
                for section in ("answer", "refusal", "smalltalk", "city"):
                    table[section]
        except (OSError, tomllib.TOMLDecodeError, KeyError, ValueError) as exc:
            raise ConfigError("回答模板文件格式错误", detail=f"{path}: {exc}") from exc

    def table(self, lang: str) -> dict[str, Any]:
        return self.langs["en" if lang == "en" else "zh"]


@dataclass(frozen=True)
class ComposeContext:
    """What every reply may draw on besides the decision: the office directory, the templates, the indexed
    notices, today's date (for validity), and the display converter for Traditional replies."""

    directory: OfficeDirectory
    templates: Templates
    documents: Mapping[str, Document]
    today: date
    to_traditional: Callable[[str], str] | None = None
    home_regions: tuple[str, ...] = ()  # regions (lexicon home_region) where a notice applies without a note


def _fill(template: str, **values: object) -> str:
    return template.format(**values)


def _in_counter(text: str, counter: str | None) -> bool:
    """``text`` prints a figure in the measure word asked for: "10万人次" for 多少人."""
    return counter is not None and re.search(counter, text) is not None


def _pieces(sentence: str) -> list[str]:
    """The sentence split at its commas, never inside brackets: "（工作日上午9:00—12:00，下午…）" stays whole."""
    out: list[str] = []
    for piece in (p for p in _CLAUSE_SPLIT.split(sentence) if p):
        if out and out[-1].count("（") + out[-1].count("(") > out[-1].count("）") + out[-1].count(")"):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def lead_of(hit: MeasureHit, decision: Decision, split_chars: int = 40, premise_endings: tuple[str, ...] = ()) -> str:
    """The part of the best sentence that answers: a verbatim piece of the notice.

    The sentence is split at its commas; the pieces that share the most (rarity-weighted) words with the
    question win, and a piece that prints the detail asked for (a figure when a number is asked) wins first.
    The pieces keep their order and the sentence's own end punctuation. A piece that is only a premise (ends
    with one of ``premise_endings``: "失业人员在领取失业保险金期间，…") takes the pieces after it up to one that
    is not, so the lead says what follows from it.
    """
    q = decision.query
    quote = hit.quote()
    if not quote:
        return hit.measure.sentences[0] if hit.measure.sentences else hit.measure.text
    stated = [e for e in quote if not e.text.rstrip().endswith(_ASKED)] or list(quote)
    sentence = max(stated, key=lambda e: e.score).text  # the sentence that answers best, not the first
    strict = q.intent if q.intent is not None and q.intent.strict else None
    if strict is not None or q.wants_figure:
        fits = [
            e.text
            for e in hit.evidence
            if not e.text.rstrip().endswith(_ASKED)
            and ((strict is not None and strict.provided_by(e.text)) or (q.wants_figure and _DIGIT.search(e.text)))
        ]
        sentence = next((x for x in fits if _in_counter(x, q.counter)), fits[0] if fits else sentence)
    pieces = _pieces(sentence)
    if len(sentence) <= split_chars or len(pieces) == 1:
        return sentence
    # the question's own words decide; then its own characters (国外 ~ 国(境)外); a lexicon expansion
    # (证书 -> 职业技能等级) only breaks what is left of a tie
    own = {w for w in q.tokens if len(w) >= 2}
    added = {w for w in (*q.expansions, *q.repairs) if len(w) >= 2} - own
    chars = {c for c in q.text if c.isalnum()}

    def score(piece: str) -> tuple[float, int, int]:
        s: float = sum(len(w) for w in own if w in piece)
        if strict is not None and strict.provided_by(piece):
            s += 100
        elif q.wants_figure and _in_counter(piece, q.counter):
            s += 60
        elif q.wants_figure and _DIGIT.search(piece):
            s += 50
        return s, len(chars.intersection(piece)), sum(len(w) for w in added if w in piece)

    best = max(range(len(pieces)), key=lambda i: (*score(pieces[i]), -i))
    last = best
    while premise_endings and last + 1 < len(pieces) and pieces[last].rstrip(",，;；:：").endswith(premise_endings):
        last += 1
    chosen = "".join(pieces[best : last + 1]).rstrip(",，;；:：")
    end = sentence[-1] if sentence[-1] in "。；;！!？?" else "。"
    return chosen if chosen.endswith(("。", "；", ";")) else chosen + end


class Composer:
    """Fills the templates from a decision. Stateless; one per index."""

    def __init__(self, ctx: ComposeContext) -> None:
        self.ctx = ctx

    # --- helpers ----------------------------------------------------------------------------------
    def lead(self, hit: MeasureHit, decision: Decision) -> str:
        """:func:`lead_of` with this composer's budget and premise endings."""
        t = self.ctx.templates
        return lead_of(hit, decision, t.budget.get("lead_split_chars", 40), t.premise_endings)

    def _t(self, lang: str) -> dict[str, Any]:
        return self.ctx.templates.table(lang)

    def _doc(self, m: Measure) -> Document:
        return self.ctx.documents[m.doc]

    def _bureau(self, session: Session) -> str | None:
        return self.ctx.directory.bureau(session.city) if session.city else None

    def _bureau_phrase(self, lang: str, bureau: str | None) -> str:
        r = self._t(lang)["refusal"]
        return _fill(r["bureau_phrase_city"], bureau=bureau) if bureau else r["bureau_phrase_any"]

    def office_ref(self, unit: str, m: Measure) -> OfficeRef:
        o = self.ctx.directory.lookup(unit)
        return OfficeRef(
            name=unit,
            full_name=o.confirmed_full_name,
            kind=o.kind,
            measure=m.number,
            full_name_unconfirmed=o.full_name if o.full_name and not o.confirmed_full_name else None,
            handles=o.handles,
            handles_en=o.handles_en,
            unit_kind=getattr(m, "unit_kind", "") or "责任单位",
        )

    def citation(self, hit: MeasureHit) -> Citation:
        m = hit.measure
        doc = self._doc(m)
        return Citation(
            doc=m.doc,
            measure=m.number,
            label=m.label,
            cited=m.cited,
            title=m.section,
            quote="".join(e.text for e in hit.quote()),
            score=round(hit.dense, 4),
            doc_title=doc.name,
            doc_number=getattr(doc, "doc_number", "") or "",
            status=self.status(doc),
            region=getattr(doc, "region", "") or "",
        )

    def status(self, doc: Document) -> str:
        status_on = getattr(doc, "status_on", None)
        if callable(status_on):
            return str(status_on(self.ctx.today))
        return str(getattr(doc, "status", "current") or "current")

    def source_ref(self, doc: Document) -> SourceRef:
        return SourceRef(
            doc=doc.slug,
            title=doc.title,
            issuer=doc.issuer,
            date=doc.date,
            doc_number=getattr(doc, "doc_number", "") or "",
        )

    def _unit_detail(self, ref: OfficeRef, lang: str, session: Session) -> str:
        t = self._t(lang)["answer"]
        d = self.ctx.directory
        en = lang == "en"
        if d.is_local_bureau(ref.name):
            office = d.lookup(ref.name)
            local = [self._bureau(session) or "", (office.handles_en if en else None) or office.handles or ""]
            return "；".join(p for p in local if p)
        office = d.lookup(ref.name)
        parts: list[str] = []
        kind = (office.kind_en if en else None) or ref.kind
        if kind:
            parts.append(_fill(t["unit_kind"], kind=kind))
        if ref.full_name:
            parts.append(_fill(t["unit_full_name_confirmed"], full_name=ref.full_name))
        elif ref.full_name_unconfirmed:
            parts.append(_fill(t["unit_full_name_unconfirmed"], full_name=ref.full_name_unconfirmed))
        handles = (ref.handles_en if en else None) or ref.handles
        if handles:
            parts.append(_fill(t["unit_handles"], handles=handles))
        return ("; " if en else "；").join(parts) if parts else t["unit_not_in_directory"]

    def _units_line(self, m: Measure, lang: str, *, inline_all: bool) -> str:
        t = self._t(lang)["answer"]
        units = list(m.units)
        sep = ", " if lang == "en" else "、"
        limit = self.ctx.templates.budget.get("units_inline", 5)
        if inline_all or len(units) <= limit:
            shown = sep.join(units)
        else:
            shown = _fill(t["units_more"], units=sep.join(units[: limit - 1]), count=len(units))
        return _fill(t["units"], unit_kind=getattr(m, "unit_kind", "") or "责任单位", units=shown)

    def _routing(self, lang: str, session: Session) -> str:
        t = self._t(lang)["answer"]
        hotline = self.ctx.directory.hotline
        bureau = self._bureau(session)
        if bureau:
            return _fill(t["local_bureau"], bureau=bureau, hotline=hotline.number, hotline_name=hotline.name)
        return _fill(t["local_bureau_unknown_city"], hotline=hotline.number, hotline_name=hotline.name)

    def _source(self, doc: Document, lang: str) -> str:
        t = self._t(lang)["answer"]
        number = getattr(doc, "doc_number", "") or ""
        return _fill(t["source"], issuer=doc.issuer, doc_title=doc.title, doc_number=number, date=doc.date).replace(
            "  ", " "
        )

    def _status_note(self, doc: Document, lang: str) -> str | None:
        t = self._t(lang)["answer"]
        status = self.status(doc)
        if status == "expired":
            return _fill(t["status_expired"], expires=getattr(doc, "expires", "") or doc.date)
        if status == "superseded":
            by = self._superseded_by(doc)
            return _fill(t["status_superseded"], by=by) if by else t["status_retired"]
        if status == "retired":
            return str(t["status_retired"])
        return None

    def _superseded_by(self, doc: Document) -> str:
        """The name of the indexed notice that repeals ``doc`` (by 文号 or title), or ""."""
        keys = {k for k in (getattr(doc, "doc_number", ""), doc.title, doc.name) if k}
        for other in self.ctx.documents.values():
            if other.slug != doc.slug and keys & set(getattr(other, "supersedes", ())):
                return other.name
        return ""

    def _measure_line(self, m: Measure, lang: str) -> str:
        t = self._t(lang)["answer"]
        doc = self._doc(m)
        if m.section:
            return _fill(t["measure"], doc_name=doc.name, label=m.label, cited=m.cited, section=m.section)
        return _fill(t["measure_no_section"], doc_name=doc.name, label=m.label, cited=m.cited)

    def _finish(self, lines: Sequence[str], lang: str) -> str:
        text = str(self._t(lang)["answer"]["separator"]).join(line for line in lines if line)
        return self._display(text, lang)

    def _display(self, text: str, lang: str) -> str:
        """Traditional replies are converted for display only; citations keep the verbatim Simplified."""
        if lang == "zh-Hant" and self.ctx.to_traditional is not None:
            return self.ctx.to_traditional(text)
        return text

    @staticmethod
    def new_message_id() -> str:
        return secrets.token_hex(12)

    def _answer(self, text: str, lead: str, session: Session, lang: str, **fields: Any) -> Answer:
        bureau = self._bureau(session)
        return Answer(
            answer=text,
            lead=self._display(lead, lang),
            session_id=session.id,
            message_id=self.new_message_id(),
            city=session.city,
            bureau=bureau,
            hotline=self.ctx.directory.hotline.number,
            lang=lang,
            **fields,
        )

    # --- answers ----------------------------------------------------------------------------------
    def answer(self, decision: Decision, session: Session, mode: Mode = Mode.FIRST) -> Answer:
        """The reply to an answered (or partly answered) decision."""
        assert decision.top is not None
        lang = session.lang or decision.query.lang
        t = self._t(lang)["answer"]
        top = decision.top
        m = top.measure
        doc = self._doc(m)
        hotline = self.ctx.directory.hotline
        offices = [self.office_ref(u, m) for u in m.units]
        lines: list[str] = []
        lead = ""
        if mode is Mode.OFFICE or (mode is not Mode.CITY and decision.query.asks_for_office):
            sep = ", " if lang == "en" else "、"
            unit_kind = getattr(m, "unit_kind", "") or "责任单位"
            # asked of the measure just answered ("这个找哪个部门"): its label and the routing are on screen
            in_play = mode is Mode.OFFICE and session.last_measure == m.id
            if offices:
                lead = _fill(t["lead_office"], unit_kind=unit_kind, units=sep.join(m.units))
                lines.append(lead)
                if not in_play:
                    lines.append(self._measure_line(m, lang))
                lines.extend(
                    _fill(t["unit_line"], name=r.name, detail=self._unit_detail(r, lang, session)) for r in offices
                )
            else:
                lead = _fill(t["no_units"], issuer=doc.issuer)
                lines += [lead] if in_play else [lead, self._measure_line(m, lang)]
            if not (in_play and session.notes_shown):
                lines.append(self._routing(lang, session))
        elif mode is Mode.CITY:
            bureau = self._bureau(session)
            lead = (
                _fill(
                    t["city_followup"],
                    city=session.city,
                    label=m.label,
                    cited=m.cited,
                    bureau=bureau,
                    hotline=hotline.number,
                    hotline_name=hotline.name,
                )
                if bureau
                else self._routing(lang, session)
            )
            lines.append(lead)
        elif mode is Mode.REPEAT:
            lead = _fill(
                t["repeat"],
                lead=self.lead(top, decision),
                label=m.label,
                cited=m.cited,
            )
            lines.append(lead)
        else:
            lead_piece = self.lead(top, decision)
            lead = _fill(t["lead"], lead=lead_piece)
            lines.append(lead)
            note = self._status_note(doc, lang)
            if note:
                lines.append(note)
            if mode is Mode.FOLLOWUP:
                # a new question about the clause in play: the lead (verbatim) answers it; only sentences of the
                # clause not yet shown in this conversation are quoted, never the same card again
                quote = self._quote(top, lead_piece, skip=set(session.shown))
                if quote:
                    lines.append(_fill(t["quote_line"], quote=quote))
                lines.append(_fill(t["followup_same"], label=m.label, cited=m.cited))
            else:
                lines.append(self._measure_line(m, lang))
                quote = self._quote(top, lead_piece)
                if quote:
                    lines.append(_fill(t["quote_line"], quote=quote))
                if offices:
                    lines.append(self._units_line(m, lang, inline_all=False))
                else:
                    lines.append(_fill(t["no_units"], issuer=doc.issuer))
                region = getattr(doc, "region", "") or ""
                if region and not any(h in region for h in self.ctx.home_regions):
                    # a city's or another province's notice is cited as theirs, never as the province's own
                    lines.append(_fill(t["region_note"], region=region))
                lines.append(self._routing(lang, session))
                for h in decision.hits[1:]:
                    lines.append(self._also(h, lang, first_doc=m.doc))
                for h in decision.related:
                    lines.append(self._also(h, lang, first_doc=m.doc))
                if not session.notes_shown:
                    quoted = "".join(e.text for e in top.quote())
                    cue = next((c for c in t["condition_cues"] if c in quoted), None)
                    if cue:
                        lines.append(_fill(t["conditions_note"], cue=cue))
                    lines.append(self._source(doc, lang))
        if decision.outcome is Outcome.PARTIAL:
            bureau_phrase = self._bureau_phrase(lang, self._bureau(session))
            for part in decision.uncovered:
                # a part with figures or quoted words is not echoed: it may carry a claim the notices do not make
                echo = not _DIGIT.search(part) and not any(c in part for c in '“”"「」『』')
                template = t["partial"] if echo else t["partial_unnamed"]
                lines.append(_fill(template, part=part, hotline=hotline.number, bureau_phrase=bureau_phrase))
        cited = [*decision.hits, *decision.related]
        sources: list[SourceRef] = []
        for h in cited:
            ref = self.source_ref(self._doc(h.measure))
            if all(s.doc != ref.doc for s in sources):
                sources.append(ref)
        return self._answer(
            self._finish(lines, lang),
            lead,
            session,
            lang,
            in_scope=True,
            outcome="partial" if decision.outcome is Outcome.PARTIAL else "answer",
            uncovered="；".join(decision.uncovered) or None,
            citations=[self.citation(h) for h in cited],
            offices=offices,
            reason=decision.code if mode is Mode.FIRST else mode.value,
            sources=sources,
        )

    def quoted(self, hit: MeasureHit, lead: str, skip: set[int] | None = None) -> list[int]:
        """Positions of the sentences :meth:`_quote` shows (so a conversation does not show them again)."""
        return sorted(i for i, _ in self._chosen(hit, lead, skip or set()))

    def _quote(self, hit: MeasureHit, lead: str, skip: set[int] | None = None) -> str:
        return "".join(text for _, text in self._chosen(hit, lead, skip or set()))

    def _chosen(self, hit: MeasureHit, lead: str, skip: set[int]) -> list[tuple[int, str]]:
        """The quoted sentences not already said by the lead, within the quote budget (whole sentences only,
        best first, shown in the notice's order)."""
        budget = self.ctx.templates.budget.get("quote_chars", 200)
        chosen: list[tuple[int, str]] = []
        used = 0
        core = lead.rstrip("。；;")
        for e in sorted(hit.quote(), key=lambda e: -e.score):
            if e.text.rstrip("。；;") == core or e.sentence in skip:
                continue
            if chosen and used + len(e.text) > budget:
                continue
            chosen.append((e.sentence, e.text))
            used += len(e.text)
        return sorted(chosen)

    def _also(self, hit: MeasureHit, lang: str, *, first_doc: str) -> str:
        t = self._t(lang)["answer"]
        m = hit.measure
        if m.doc != first_doc:
            return _fill(t["also_other_doc"], doc_name=self._doc(m).name, label=m.label, cited=m.cited)
        return _fill(t["also"], label=m.label, cited=m.cited, section=m.section or self._doc(m).name)

    # --- refusals and notes -----------------------------------------------------------------------
    def refusal(self, decision: Decision, session: Session) -> Answer:
        lang = session.lang or decision.query.lang
        r = self._t(lang)["refusal"]
        hotline = self.ctx.directory.hotline
        reason = decision.reason
        citations: list[Citation] = []
        if reason is Reason.TOPIC:
            lines = [_fill(r["topic"], topic=decision.detail)]
        elif reason is Reason.REGION:
            lines = [_fill(r["region"], region=decision.detail)]
        elif reason is Reason.UNSTATED and decision.top is not None:
            m = decision.top.measure
            intent = decision.intent
            what = (intent.what_en if lang == "en" else intent.what) if intent else ""
            lines = [
                _fill(r["unstated"], label=m.label, cited=m.cited, section=m.section or self._doc(m).name, what=what)
            ]
            citations = [self.citation(decision.top)]
        elif reason is Reason.MANIPULATION:
            lines = [r["manipulation"]]
        elif reason is Reason.NO_CONTENT:
            lines = [r["no_content"]]
        elif reason is Reason.UNKNOWN_CLAUSE:
            ref = decision.query.clause_ref
            lines = [_fill(r["unknown_clause"], number=ref.number if ref else "")]
        else:
            lines = [r["low_relevance"]]
        bureau = self._bureau(session)
        lines.append(
            _fill(
                r["contact"],
                hotline=hotline.number,
                hotline_name=hotline.name,
                bureau_phrase=self._bureau_phrase(lang, bureau),
            )
        )
        return self.plain(self._finish(lines, lang), session, decision.code, lang, citations=citations)

    def smalltalk(self, act: str, session: Session, lang: str) -> Answer:
        s = self._t(lang)["smalltalk"]
        hotline = self.ctx.directory.hotline
        template = s.get(act) or s["filler"]
        examples = str(s["example_separator"]).join(s["examples"])
        bureau_phrase = self._bureau_phrase(lang, self._bureau(session))
        text = _fill(
            template, examples=examples, hotline=hotline.number, hotline_name=hotline.name, bureau_phrase=bureau_phrase
        )
        text = self._finish([text], lang)
        return self._answer(text, text, session, lang, in_scope=False, outcome="smalltalk", reason=f"smalltalk:{act}")

    def city_noted(self, session: Session, lang: str) -> Answer:
        assert session.city is not None
        hotline = self.ctx.directory.hotline
        text = _fill(
            self._t(lang)["city"]["noted"],
            city=session.city,
            bureau=self._bureau(session),
            hotline=hotline.number,
            hotline_name=hotline.name,
        )
        text = self._finish([text], lang)
        return self._answer(text, text, session, lang, in_scope=False, outcome="note", reason="city")

    def plain(
        self, text: str, session: Session, reason: str, lang: str = "zh-Hans", citations: list[Citation] | None = None
    ) -> Answer:
        """A reply that answers nothing (a refusal, a blocked question, a note): the text and where to go; a
        refusal for an unstated detail cites the clause it is about."""
        return self._answer(
            text,
            text.split("\n", 1)[0],
            session,
            lang,
            in_scope=False,
            outcome="refuse",
            citations=citations or [],
            reason=reason,
            sources=[self.source_ref(d) for d in self.ctx.documents.values()],
        )


def compose(decision: Decision, session: Session, ctx: ComposeContext, mode: Mode = Mode.FIRST) -> Answer:
    """The reply to one decided turn: an answer (or partial answer) or a refusal. Pure: nothing is read or
    written besides the arguments, so the same decision and session always give the same text."""
    composer = Composer(ctx)
    if decision.outcome is Outcome.REFUSE:
        return composer.refusal(decision, session)
    return composer.answer(decision, session, mode)
