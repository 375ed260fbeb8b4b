"""Answer: the conversation loop. Deterministic, no LLM.

:class:`PolicyBot` is the one entry point every client uses (CLI, HTTP API, WeChat). ``ask`` validates the
question, reads the turn against the session (small talk, a repeated question, a clause named by number, a
follow-up about the clause in play, a city), then sends the question down the stages once: analysis
(:mod:`bot.query`) → ranking (:mod:`bot.retrieve`) → decision (:mod:`bot.scope`) → reply (:mod:`bot.compose`).

Example::

    >>> bot = PolicyBot.from_settings(get_settings())
    >>> a = bot.ask("我们厂搞智能化改造，多出来的工人怎么安置？")
    >>> a.answer.in_scope, a.answer.citations[0].label, [o.name for o in a.answer.offices][:3]
    (True, '（七）', ['就业处', '就管中心', '职介中心'])
    >>> bot.ask("我在苏州", session=a.session).answer.lead   # names 苏州市人力资源和社会保障局
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Generic, TypeVar

import numpy as np
from cachetools import LRUCache
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.compose import ComposeContext, Composer, Mode, Templates
from bot.config import Settings
from bot.embeddings import VectorEmbeddings, make_embeddings
from bot.errors import EmptyQuestion, InvalidQuestion, QuestionTooLong
from bot.index import KnowledgeIndex, ensure_index
from bot.ingest import Measure
from bot.models import Answer, Citation, OfficeRef, Session, SourceRef, Turn
from bot.offices import OfficeDirectory
from bot.query import QueryAnalysis, QuestionAnalyzer
from bot.retrieve import PolicyRetriever, Ranking
from bot.scope import Calibration, Decision, Outcome, Reason, combine, decide, prefer_current, prefer_general
from bot.text import strip_invisible

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["Answer", "Citation", "OfficeRef", "PolicyBot", "Session", "SourceRef", "Turn"]


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


@dataclass(frozen=True)
class Reply:
    """A decided turn: the decision (None for small talk and notes) and the answer composed from it."""

    answer: Answer
    decision: Decision | None


class PolicyBot:
    """Answers questions about the indexed notices. Build once per process; ``ask`` is thread-safe."""

    def __init__(
        self,
        settings: Settings,
        index: KnowledgeIndex,
        embeddings: VectorEmbeddings,
        directory: OfficeDirectory,
        templates: Templates,
        calibration: Calibration,
    ) -> None:
        self.settings = settings
        self.index = index
        self.embeddings = embeddings
        self.retriever = PolicyRetriever(index, embeddings, {c.name: c.aliases for c in directory.cities})
        self.analyzer = QuestionAnalyzer.load(
            settings.intents_path,
            index.analyzer,
            [*directory.city_names(), *(a for c in directory.cities for a in c.aliases)],
        )
        self.directory = directory
        self.templates = templates
        self.calibration = calibration.for_model(embeddings.model_id)
        self.composer = Composer(
            ComposeContext(
                directory,
                templates,
                index.doc_by_slug,
                date.today(),
                index.analyzer.to_traditional,
                tuple(index.analyzer.lexicon.home_region),
            )
        )
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
    def with_index(
        cls,
        settings: Settings,
        index: KnowledgeIndex,
        embeddings: VectorEmbeddings,
        calibration: Calibration | None = None,
    ) -> PolicyBot:
        return cls(
            settings,
            index,
            embeddings,
            OfficeDirectory.load(settings.offices_path),
            Templates(settings.prompts_dir / "answer.toml"),
            calibration or Calibration.load(settings.calibration_path),
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
        session = replace(session, history=list(session.history)) if session is not None else Session()
        session.turns += 1
        if session.last_measure is not None or session.turns > 1:
            return Turn(self.reply(text, session, city).answer, session)
        key = (text, city or "", session.city or "")
        hit = self._answers.get(key)
        if hit is not None:
            answer, after = hit
            fresh_id = session.id
            session = replace(after, id=fresh_id, history=list(after.history))
            fresh = answer.model_copy(update={"session_id": fresh_id, "message_id": Composer.new_message_id()})
            return Turn(fresh, session)
        answer = self.reply(text, session, city).answer
        self._answers.put(key, (answer, replace(session, history=list(session.history))))
        return Turn(answer, session)

    def reply(self, text: str, session: Session, city: str | None = None) -> Reply:
        """Decide and compose one turn, updating ``session`` in place."""
        q = self.analyzer.analyze(text)
        if session.lang is None or q.script in ("cjk", "latin"):
            session.lang = q.lang
        named_city = self.directory.canonical_city(city) if city else None
        # a city the citizen names in the question wins over the client's picker, which wins over memory
        session.city = self.directory.find_city(q.normalized) or named_city or session.city
        last = session.last_measure if session.last_measure in self.index.measure_row else None
        lang = session.lang or q.lang

        if q.act is not None:
            return Reply(self.composer.smalltalk(q.act, session, lang), None)
        if last is not None and any(h[0] == q.normalized and h[1] == last for h in session.history):
            prev = self.analyzer.analyze(session.last_question or text)
            ranking = self.retriever.rank(prev, vector=self._vector(prev), pin=last)
            decision = decide(ranking, self.calibration)
            if decision.answered:
                return self._answered(decision, session, Mode.REPEAT, text=None)
        if q.clause_ref is not None:
            target = self._clause(q, last)
            if target is None:
                decision = decide(Ranking(q, ()), self.calibration, known_clause=False)
                return self._refused(decision, session)
            ranking = self.retriever.rank(q, vector=self._vector(q), pin=target)
            decision = decide(ranking, self.calibration)
            mode = Mode.OFFICE if q.asks_for_office and not q.topic_tokens else Mode.FIRST
            return self._answered_or_refused(decision, session, mode, text=text)
        if last is not None and session.last_question and q.meta and not q.instructions:
            # a meta follow-up ("这个找哪个部门", "我在苏州", "具体找哪个处？"): same clause, same evidence
            prev = self.analyzer.analyze(session.last_question)
            ranking = self.retriever.rank(prev, vector=self._vector(prev), pin=last)
            decision = decide(ranking, self.calibration)
            mode = Mode.OFFICE if q.asks_for_office else Mode.CITY if session.city else Mode.FOLLOWUP
            return self._answered_or_refused(decision, session, mode, text=None)
        if q.meta and session.city and not q.asks_for_office and not q.instructions and q.genuine is False:
            return Reply(self.composer.city_noted(session, lang), None)
        if q.meta and session.city and not q.asks_for_office and not q.instructions and not q.tokens:
            return Reply(self.composer.city_noted(session, lang), None)
        if q.meta and session.city and not q.asks_for_office and not q.instructions and self._only_city(q):
            return Reply(self.composer.city_noted(session, lang), None)

        decision = self._decide(q, session, last)
        mode = Mode.FIRST
        if decision.answered and decision.top is not None and last == decision.top.measure.id and session.turns > 1:
            mode = Mode.FOLLOWUP if decision.reason is Reason.FOLLOWUP and not q.asks_for_office else Mode.FIRST
        return self._answered_or_refused(decision, session, mode, text=text)

    def _only_city(self, q: QueryAnalysis) -> bool:
        return not q.topic_tokens and self.directory.find_city(q.normalized) is not None

    def _decide(self, q: QueryAnalysis, session: Session, last: str | None) -> Decision:
        prev = self.analyzer.analyze(session.last_question) if last and session.last_question else None
        whole = self._decide_one(q, prev, last)
        # a message that also instructed the assistant is answered whole: its leftover pieces are never echoed
        if not q.parts or q.instructions:
            return whole
        parts: list[Decision] = []
        first: Decision | None = None
        for i, part in enumerate(q.parts):
            if i == 0 or first is None or first.top is None:
                d = self._decide_one(part, prev, last)
                first = d if i == 0 else first
            else:
                # later parts read like follow-ups of the first: "…？申报人才项目有什么特殊待遇？"
                d = self._decide_one(part, q.parts[0], first.top.measure.id)
            parts.append(d)
        return combine(whole, parts)

    def _decide_one(self, q: QueryAnalysis, prev: QueryAnalysis | None, last: str | None) -> Decision:
        vector = self._vector(q)
        if last and prev is not None:
            ranking = self.retriever.rank(
                q, vector=vector, context=prev, context_vector=self._vector(prev), prior={last: 1.0}
            )
        else:
            ranking = self.retriever.rank(q, vector=vector)
        decision = prefer_current(decide(ranking, self.calibration, context=prev), self._is_current, self.calibration)
        return prefer_general(decision, lambda m: self.index.doc_by_slug[m.doc], self._is_current)

    def _is_current(self, m: Measure) -> bool:
        return self.composer.status(self.index.doc_by_slug[m.doc]) == "current"

    def _clause(self, q: QueryAnalysis, last: str | None) -> str | None:
        """The clause a question names by number: in the notice in play, else the only notice, else the first
        notice (in index order) that has a clause with that number and an exactly fitting label."""
        assert q.clause_ref is not None
        n = q.clause_ref.number
        docs = self.index.documents
        ordered = docs
        if last is not None:
            current = last.split("#", 1)[0]
            ordered = sorted(docs, key=lambda d: d.slug != current)
        named = [d for d in docs if d.name and d.name in q.normalized]
        if named:
            ordered = named
        for d in ordered:
            if len(d.measures) >= n:
                return d.measures[n - 1].id
        return None

    def _vector(self, q: QueryAnalysis) -> np.ndarray:
        return self._vectors.get_or_compute(q.search_text, lambda: self.retriever.query_vector(q))

    # --- composing --------------------------------------------------------------------------------
    def _answered_or_refused(self, decision: Decision, session: Session, mode: Mode, *, text: str | None) -> Reply:
        if decision.answered:
            return self._answered(decision, session, mode, text=text)
        return self._refused(decision, session)

    def _answered(self, decision: Decision, session: Session, mode: Mode, *, text: str | None) -> Reply:
        answer = self.composer.answer(decision, session, mode)
        assert decision.top is not None
        if mode is Mode.FIRST:
            session.notes_shown = True
        top = decision.top
        if session.last_measure != top.measure.id:
            session.shown = []
        if mode in (Mode.FIRST, Mode.FOLLOWUP):
            lead = self.composer.lead(top, decision)
            session.shown = sorted({*session.shown, *self.composer.quoted(top, lead, set(session.shown))})
        session.last_measure = decision.top.measure.id
        if text is not None and mode is not Mode.REPEAT:
            session.last_question = text
            session.remember(decision.query.normalized, decision.top.measure.id)
        return Reply(answer, decision)

    def _refused(self, decision: Decision, session: Session) -> Reply:
        session.remember(decision.query.normalized, None)
        return Reply(self.composer.refusal(decision, session), decision)

    def plain_answer(self, text: str, session: Session, reason: str) -> Answer:
        """An answer that cites no clause (a blocked question, a note): the text, where to go."""
        return self.composer.plain(text, session, reason, session.lang or "zh-Hans")

    # --- LangChain ---------------------------------------------------------------------------------
    def as_retriever(self, k: int = 3) -> PolicyLangChainRetriever:
        return PolicyLangChainRetriever(policy=self, k=k)


class PolicyLangChainRetriever(BaseRetriever):
    """The answering core behind LangChain's ``BaseRetriever`` interface, for chains and agents.

    Returns one ``Document`` per cited clause (none when the notices do not answer the question), its
    ``page_content`` the verbatim quote and its metadata the clause id, label, section, units and scores.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    policy: Any
    k: int = 3

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        bot: PolicyBot = self.policy
        q = bot.analyzer.analyze(bot.validate(query))
        decision = bot._decide(q, Session(), None)
        if decision.outcome is Outcome.REFUSE:
            return []
        docs = []
        for hit in (*decision.hits, *decision.related)[: self.k]:
            m = hit.measure
            docs.append(
                LCDocument(
                    page_content="".join(e.text for e in hit.quote()),
                    metadata={
                        "id": m.id,
                        "doc": m.doc,
                        "measure": m.number,
                        "label": m.label,
                        "section": m.section,
                        "units": list(m.units),
                        "score": hit.score,
                        "probability": decision.probability,
                    },
                )
            )
        return docs
