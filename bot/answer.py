"""Answer: compose grounded answers and carry conversations. Deterministic, no LLM.

:class:`PolicyBot` is the one entry point every client uses (CLI, HTTP API, WeChat). ``ask`` validates the
question, resolves follow-ups against the session, retrieves, decides whether the notices cover it, and fills
the templates of ``prompts/answer.toml`` with text copied from the notice and the office directory only.

Example::

    >>> bot = PolicyBot.from_settings(get_settings())
    >>> a = bot.ask("我们厂搞智能化改造，多出来的工人怎么安置？")
    >>> a.in_scope, a.citations[0].label, [o.name for o in a.offices][:3]
    (True, '（七）', ['就业处', '就管中心', '职介中心'])
    >>> bot.ask("我在苏州", session=a.session).answer   # contains 苏州市人力资源和社会保障局
"""

from __future__ import annotations

import secrets
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from cachetools import LRUCache
from pydantic import BaseModel, Field

from bot.config import Settings
from bot.embeddings import VectorEmbeddings, make_embeddings
from bot.errors import EmptyQuestion, InvalidQuestion, QuestionTooLong
from bot.index import KnowledgeIndex, ensure_index
from bot.ingest import Document, Measure
from bot.offices import OfficeDirectory
from bot.retrieve import MeasureHit, PolicyRetriever, QueryAnalysis, RetrievalResult
from bot.text import strip_invisible

K = TypeVar("K")
V = TypeVar("V")


# --- typed results (the API contract of shared/DESIGN.md) --------------------------------------------
class Citation(BaseModel):
    doc: str
    measure: int
    label: str
    title: str = Field(description="The section heading the measure sits under, as printed.")
    quote: str = Field(description="1-3 sentences of the measure, verbatim.")
    score: float
    doc_title: str = ""


class OfficeRef(BaseModel):
    name: str = Field(description="Short name exactly as printed in the notice.")
    full_name: str | None = Field(None, description="Only when a public source confirms it.")
    kind: str | None = None
    measure: int
    full_name_unconfirmed: str | None = Field(None, description="Likely full name, not confirmed.")
    handles: str | None = None


class SourceRef(BaseModel):
    doc: str
    title: str
    issuer: str
    date: str


class Answer(BaseModel):
    answer: str
    in_scope: bool
    citations: list[Citation] = []
    offices: list[OfficeRef] = []
    session_id: str
    message_id: str
    city: str | None = None
    bureau: str | None = None
    hotline: str
    reason: str = Field(description="Why: evidence, followup, office, city, topic:…, region:…, low_relevance…")
    sources: list[SourceRef] = []
    ai_generated: bool = False


# --- session ----------------------------------------------------------------------------------------
@dataclass
class Session:
    """The conversation state a caller stores between turns (small and JSON-friendly)."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    city: str | None = None
    last_measure: str | None = None
    last_question: str | None = None
    turns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "city": self.city,
            "last_measure": self.last_measure,
            "last_question": self.last_question,
            "turns": self.turns,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Session:
        return cls(
            id=str(raw.get("id") or secrets.token_urlsafe(18)),
            city=raw.get("city"),
            last_measure=raw.get("last_measure"),
            last_question=raw.get("last_question"),
            turns=int(raw.get("turns") or 0),
        )


class _LockedLRU(Generic[K, V]):
    """A thread-safe LRU on cachetools; ``size`` 0 turns it off."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: LRUCache[K, V] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        if self.size <= 0:
            return None
        with self._lock:
            return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        if self.size > 0:
            with self._lock:
                self._data[key] = value

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        hit = self.get(key)
        if hit is None:
            hit = compute()
            self.put(key, hit)
        return hit


class Templates:
    def __init__(self, path: Path) -> None:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        self.answer: dict[str, Any] = raw["answer"]
        self.refusal: dict[str, str] = raw["refusal"]
        self.city: dict[str, str] = raw["city"]


class PolicyBot:
    """Answers questions about the indexed notices. Build once per process; ``ask`` is thread-safe."""

    def __init__(
        self,
        settings: Settings,
        index: KnowledgeIndex,
        embeddings: VectorEmbeddings,
        directory: OfficeDirectory,
        templates: Templates,
    ) -> None:
        self.settings = settings
        self.index = index
        self.embeddings = embeddings
        self.retriever = PolicyRetriever(index, embeddings)
        self.directory = directory
        self.templates = templates
        self._vectors: _LockedLRU[str, np.ndarray] = _LockedLRU(settings.answer_cache_size)
        # whole answers to questions asked without conversation context, with the session state they leave
        self._answers: _LockedLRU[tuple[str, str, str], tuple[Answer, Session]] = _LockedLRU(settings.answer_cache_size)

    @classmethod
    def from_settings(
        cls, settings: Settings, embeddings: VectorEmbeddings | None = None, *, progress: bool = False
    ) -> PolicyBot:
        emb = embeddings or make_embeddings(settings)
        index = ensure_index(settings, emb, progress=progress)
        return cls.with_index(settings, index, emb)

    @classmethod
    def with_index(cls, settings: Settings, index: KnowledgeIndex, embeddings: VectorEmbeddings) -> PolicyBot:
        return cls(
            settings,
            index,
            embeddings,
            OfficeDirectory.load(settings.offices_path),
            Templates(settings.prompts_dir / "answer.toml"),
        )

    # --- validation -------------------------------------------------------------------------------
    def validate(self, question: object) -> str:
        """The question as text, or a typed error: not text, empty, or longer than the configured limit."""
        if not isinstance(question, str):
            raise InvalidQuestion("问题必须是文字")
        visible = strip_invisible(question).strip()
        if len(question) > self.settings.max_question_chars:
            raise QuestionTooLong(
                f"问题太长了，请控制在{self.settings.max_question_chars}字以内",
                detail=f"{len(question)} > {self.settings.max_question_chars}",
            )
        if not visible:
            raise EmptyQuestion("问题不能为空")
        return visible

    # --- the entry point --------------------------------------------------------------------------
    def ask(self, question: object, session: Session | None = None, city: str | None = None) -> Turn:
        """Answer one turn. A question asked without conversation context is answered from the LRU when it
        was asked before (same text, same city): the answer is deterministic, only the ids are new."""
        text = self.validate(question)
        session = replace(session) if session is not None else Session()
        session.turns += 1
        if session.last_measure is not None:
            return self._answer(text, session, city)
        key = (text, city or "", session.city or "")
        hit = self._answers.get(key)
        if hit is not None:
            answer, after = hit
            session.city, session.last_measure, session.last_question = (
                after.city,
                after.last_measure,
                after.last_question,
            )
            fresh = answer.model_copy(update={"session_id": session.id, "message_id": secrets.token_hex(12)})
            return Turn(fresh, session)
        turn = self._answer(text, session, city)
        self._answers.put(key, (turn.answer, replace(turn.session)))
        return turn

    def _answer(self, text: str, session: Session, city: str | None) -> Turn:
        q = self.retriever.analyze(text)
        named_city = self.directory.canonical_city(city) if city else None
        # a city the citizen names in the question wins over the client's picker, which wins over memory
        session.city = self.directory.find_city(q.normalized) or named_city or session.city
        last = session.last_measure if session.last_measure in self.index.measure_row else None

        topic_left = self._topic_tokens(q)
        meta = (
            not topic_left
            and not q.out_of_scope_topic
            and not q.other_region
            and not q.manipulation
            and not q.asks_quantity
            and q.quantity is None
        )
        if last and session.last_question and meta:
            # a meta follow-up ("这个找哪个部门", "我在苏州", "具体找哪个处？"): same measure, same evidence
            prev = self.retriever.analyze(session.last_question)
            result = self.retriever.search(prev, vector=self._vector(prev), pin=last)
            reason = "office" if q.asks_for_office else "city" if session.city else "followup"
            return self._compose(result, session, reason=reason, remember_question=False)
        if (
            not topic_left
            and session.city
            and not q.out_of_scope_topic
            and not q.asks_for_office
            and not q.manipulation
        ):
            return self._city_noted(session)

        vector = self._vector(q)
        if last and session.last_question:
            prev = self.retriever.analyze(session.last_question)
            result = self.retriever.search(
                q, vector=vector, context=prev, context_vector=self._vector(prev), prior={last: 1.0}
            )
        else:
            result = self.retriever.search(q, vector=vector)
        return self._compose(result, session, reason=result.reason, remember_question=True)

    def _vector(self, q: QueryAnalysis) -> np.ndarray:
        return self._vectors.get_or_compute(q.search_text, lambda: self.retriever.query_vector(q))

    def _topic_tokens(self, q: QueryAnalysis) -> list[str]:
        """Content words left once dialogue cues (office questions, anaphora) and city names are removed."""
        text = q.normalized
        lex = self.retriever.analyzer.lexicon
        for cue in sorted((*lex.office_intent, *lex.anaphora), key=len, reverse=True):
            if len(cue) > 1:
                text = text.replace(cue, " ")
        for name in self.directory.city_names():
            text = text.replace(name + "市", " ").replace(name, " ")
        for c in self.directory.cities:
            for alias in c.aliases:
                text = text.replace(alias.lower(), " ")
        ta = self.retriever.analyzer
        return [t for t in ta.tokens(text) if ta.is_known_word(t)]

    # --- composition ------------------------------------------------------------------------------
    def _doc(self, m: Measure) -> Document:
        return self.index.doc_by_slug[m.doc]

    def _sources(self) -> list[SourceRef]:
        return [SourceRef(doc=d.slug, title=d.title, issuer=d.issuer, date=d.date) for d in self.index.documents]

    def _compose(self, result: RetrievalResult, session: Session, *, reason: str, remember_question: bool) -> Turn:
        hotline = self.directory.hotline
        bureau = self.directory.bureau(session.city) if session.city else None
        if not result.in_scope or result.top is None:
            return self._refuse(result, session, bureau)
        t = self.templates.answer
        top = result.top
        m = top.measure
        doc = self._doc(m)
        lines = [t["measure"].format(doc_name=doc.name, label=m.label, section=m.section or doc.name)]
        quote = top.quote()
        lines.append(t["quote_header"])
        lines.extend(t["quote_line"].format(quote=e.text) for e in quote)
        offices = [self._office_ref(u, m) for u in m.units]
        lines.append(t["units_header"].format(units=m.units_text.replace(",", "，")))
        for u, ref in zip(m.units, offices, strict=True):
            lines.append(t["unit_line"].format(name=u, detail=self._unit_detail(ref, session)))
        if bureau:
            lines.append(t["local_bureau"].format(bureau=bureau, hotline=hotline.number, hotline_name=hotline.name))
        else:
            lines.append(t["local_bureau_unknown_city"].format(hotline=hotline.number, hotline_name=hotline.name))
        quoted = "".join(e.text for e in quote)
        cue = next((c for c in t["condition_cues"] if c in quoted), None)
        lines.append(t["conditions_note"].format(cue=cue) if cue else t["general_note"])
        related = result.related(2)
        if related:
            lines.append(t["related_header"])
            for h in related:
                snippet = h.quote(1)[0].text if h.evidence else h.measure.sentences[0]
                lines.append(
                    t["related_line"].format(label=h.measure.label, section=h.measure.section, snippet=snippet)
                )
        lines.append(t["source"].format(issuer=doc.issuer, doc_title=doc.title, date=doc.date))

        citations = [self._citation(h) for h in (top, *related)]
        session.last_measure = m.id
        if remember_question:
            session.last_question = result.query.original
        answer = Answer(
            answer=t["separator"].join(lines),
            in_scope=True,
            citations=citations,
            offices=offices,
            session_id=session.id,
            message_id=secrets.token_hex(12),
            city=session.city,
            bureau=bureau,
            hotline=hotline.number,
            reason=reason,
            sources=[SourceRef(doc=doc.slug, title=doc.title, issuer=doc.issuer, date=doc.date)],
        )
        return Turn(answer, session)

    def _citation(self, hit: MeasureHit) -> Citation:
        m = hit.measure
        return Citation(
            doc=m.doc,
            measure=m.number,
            label=m.label,
            title=m.section,
            quote="".join(e.text for e in hit.quote()),
            score=round(hit.relevance, 4),
            doc_title=self._doc(m).name,
        )

    def _office_ref(self, unit: str, m: Measure) -> OfficeRef:
        o = self.directory.lookup(unit)
        return OfficeRef(
            name=unit,
            full_name=o.confirmed_full_name,
            kind=o.kind,
            measure=m.number,
            full_name_unconfirmed=o.full_name if o.full_name and not o.confirmed_full_name else None,
            handles=o.handles,
        )

    def _unit_detail(self, ref: OfficeRef, session: Session) -> str:
        t = self.templates.answer
        parts = []
        if self.directory.is_local_bureau(ref.name):
            if session.city:
                parts.append(self.directory.bureau(session.city))
            parts.append(self.directory.local_handles)
            return "；".join(parts)
        if ref.kind:
            parts.append(t["unit_kind"].format(kind=ref.kind))
        if ref.full_name:
            parts.append(t["unit_full_name_confirmed"].format(full_name=ref.full_name))
        elif ref.full_name_unconfirmed:
            parts.append(t["unit_full_name_unconfirmed"].format(full_name=ref.full_name_unconfirmed))
        if ref.handles:
            parts.append(t["unit_handles"].format(handles=ref.handles))
        return "；".join(parts) if parts else t["unit_not_in_directory"]

    def _contact(self, bureau: str | None) -> str:
        r = self.templates.refusal
        hotline = self.directory.hotline
        phrase = r["bureau_phrase_city"].format(bureau=bureau) if bureau else r["bureau_phrase_any"]
        return r["contact"].format(hotline=hotline.number, hotline_name=hotline.name, bureau_phrase=phrase)

    def _refuse(self, result: RetrievalResult, session: Session, bureau: str | None) -> Turn:
        r = self.templates.refusal
        reason = result.reason
        if reason.startswith("topic:"):
            lines = [r["topic"].format(topic=reason.split(":", 1)[1])]
        elif reason.startswith("region:"):
            lines = [r["region"].format(region=reason.split(":", 1)[1])]
        elif reason.startswith("unstated:") and result.top is not None:
            m = result.top.measure
            kind = reason.split(":", 1)[1]
            what = result.query.quantity.what if result.query.quantity else ""
            lines = [r["unstated"].format(label=m.label, section=m.section, what=what or kind)]
        elif reason == "manipulation":
            lines = [r["manipulation"]]
        elif reason == "no_content":
            lines = [r["no_content"]]
        else:
            names = "、".join(f"《{d.name}》" for d in self.index.documents)
            lines = [r["low_relevance"].format(sources=names)]
        lines.append(self._contact(bureau))
        return Turn(self.plain_answer("\n".join(lines), session, reason), session)

    def _city_noted(self, session: Session) -> Turn:
        assert session.city is not None
        hotline = self.directory.hotline
        text = self.templates.city["noted"].format(
            city=session.city,
            bureau=self.directory.bureau(session.city),
            hotline=hotline.number,
            hotline_name=hotline.name,
        )
        return Turn(self.plain_answer(text, session, "city"), session)

    def plain_answer(self, text: str, session: Session, reason: str) -> Answer:
        """An answer that cites no measure (a refusal, a note, a blocked question): the text, where to go."""
        return Answer(
            answer=text,
            in_scope=False,
            session_id=session.id,
            message_id=secrets.token_hex(12),
            city=session.city,
            bureau=self.directory.bureau(session.city) if session.city else None,
            hotline=self.directory.hotline.number,
            reason=reason,
            sources=self._sources(),
        )


@dataclass(frozen=True)
class Turn:
    """One answered turn: the answer, and the session to pass to the next ``ask``."""

    answer: Answer
    session: Session
