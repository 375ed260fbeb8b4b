"""The answering service: what every channel (HTTP API, WeChat) calls.

It owns the long-lived pieces - the :class:`PolicyBot` (swapped atomically on reindex), the session store,
the rate limiter and the feedback store - and returns typed values. ``bot/api.py`` only maps HTTP onto
these calls; errors are :mod:`bot.errors` types, translated at the edge.

Example::

    >>> svc = ChatService(settings); svc.load()          # in the app's lifespan
    >>> a = svc.ask("稳岗返还找谁", session_id=None, city="苏州", client="127.0.0.1")
    >>> svc.feedback(a.message_id, helpful=True, comment=None)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from bot.answer import Answer, PolicyBot, Session
from bot.auth import user_tag
from bot.config import Settings
from bot.embeddings import VectorEmbeddings, make_embeddings
from bot.errors import InvalidQuestion, NotFound, PolicyBotError
from bot.guard import Grounding
from bot.index import build_index, ensure_index, load_index, staleness
from bot.ingest import Measure
from bot.llm import Explainer, ExplainerStats, Explanation, StreamEvent, ground_answer
from bot.moderation import BLOCKED_REASON, Channel, Moderator
from bot.sessions import MemorySessionStore, RateLimiter, SessionStore
from bot.store import FeedbackStore, StorageUnavailable

log = logging.getLogger("policybot.service")


DISK_CHECK_SECONDS = 5.0


class NotReady(PolicyBotError):
    code = "not_ready"
    status = 503
    retry_after = 5


class UnknownCity(InvalidQuestion):
    code = "unknown_city"


# --- browse models ----------------------------------------------------------------------------------
class DocumentInfo(BaseModel):
    doc: str
    title: str
    name: str
    issuer: str
    date: str
    measures: int


class MeasureInfo(BaseModel):
    doc: str
    measure: int
    label: str
    section: str
    text: str
    sentences: list[str]
    units: list[str]
    units_text: str


class SectionInfo(BaseModel):
    doc: str
    heading: str
    measures: list[MeasureInfo]


class OfficeInfo(BaseModel):
    name: str
    full_name: str | None
    full_name_unconfirmed: str | None
    kind: str | None
    handles: str | None
    measures: list[int]


class CityInfo(BaseModel):
    name: str
    bureau: str


class IndexStatus(BaseModel):
    ready: bool
    version: str | None
    model_id: str | None
    built_at: str | None
    measures: int
    reindex: str  # idle | running | failed
    last_error: str | None
    llm: ExplainerStats | None = None  # replies served by the LLM and fallbacks by reason, when configured


@dataclass
class _Reindex:
    state: str = "idle"
    last_error: str | None = None


class ChatService:
    def __init__(
        self,
        settings: Settings,
        *,
        bot: PolicyBot | None = None,
        sessions: SessionStore | None = None,
        store: FeedbackStore | None = None,
        moderator: Moderator | None = None,
        explainer: Explainer | None = None,
    ) -> None:
        self.settings = settings
        # the optional plain-language explanation (bot/llm.py): only when POLICYBOT_LLM_BASE_URL is set
        self.explainer = explainer or Explainer.from_settings(settings)
        self._bot = bot
        self._embeddings: VectorEmbeddings | None = bot.embeddings if bot else None
        self.sessions = sessions or MemorySessionStore(
            settings.session_ttl_seconds, settings.max_sessions, settings.session_max_turns
        )
        self.store = store or FeedbackStore(settings.db_path)
        self.limiter = RateLimiter(settings.rate_limit_session, settings.rate_limit_client)
        self.moderator = moderator or Moderator.from_settings(settings)
        self._reindex = _Reindex()
        self._reindex_lock = threading.Lock()
        self._disk_checked_at = float("-inf")
        self._disk_problem: str | None = None
        self.load_error: str | None = None

    # --- lifecycle --------------------------------------------------------------------------------
    def load(self) -> None:
        """Load (and if needed build) the index. Heavy: runs once, in the lifespan's background thread."""
        try:
            emb = self._embeddings or make_embeddings(self.settings)
            self._embeddings = emb
            self._bot = PolicyBot.with_index(self.settings, ensure_index(self.settings, emb), emb)
            self.load_error = None
        except Exception as exc:  # reported by /readyz; the process stays up
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("index load failed")

    @property
    def ready(self) -> bool:
        return self._bot is not None

    @property
    def bot(self) -> PolicyBot:
        if self._bot is None:
            raise NotReady("服务正在启动，请稍后再试", detail=self.load_error or "index loading")
        return self._bot

    def readiness(self) -> tuple[bool, str]:
        """Ready when an index is loaded and the one on disk is sound.

        The index on disk is what the next start (or another worker) loads, so it is checked too - at most
        every ``DISK_CHECK_SECONDS``, cheaply (manifest and source hashes). A missing or corrupt index is
        "not ready" and is rebuilt from the sources in the background while answers keep flowing from
        memory; a merely stale one (new sources, other model, edited lexicon) stays ready and is rebuilt.
        """
        if self._bot is None:
            return False, self.load_error or "index loading"
        now = time.monotonic()
        if now - self._disk_checked_at > DISK_CHECK_SECONDS:
            self._disk_checked_at = now
            self._disk_problem = staleness(self.settings)
        problem = self._disk_problem
        if problem is None:
            return True, f"index {self._bot.index.version} loaded"
        if self.settings.auto_build_index:
            self.start_reindex()
        broken = problem == "missing" or problem.startswith(("corrupt", "format"))
        state = "rebuilding" if self.settings.auto_build_index else "run policybot build-index"
        return not broken, f"index on disk: {problem}; {state}"

    # --- answering --------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        session_id: str | None,
        city: str | None,
        client: str,
        user: str | None = None,
        channel: Channel = "api",
        explain: bool = True,
    ) -> Answer:
        """``explain=False``: never the LLM (the stream endpoint explains through :meth:`explain_stream`)."""
        bot = self.bot
        if city is not None and city.strip() and bot.directory.canonical_city(city) is None:
            raise UnknownCity("暂不支持该城市，请选择江苏省13个设区市之一", detail=city[:40])
        self.limiter.check(user or client, session_id)
        session = self.sessions.get(session_id, user)
        text = bot.validate(question)
        # content security (bot/moderation.py): the question before answering, the answer before returning
        if self.moderator.check(text, stage="question", user=user, channel=channel).blocked:
            session = session or Session()
            self.sessions.put(session, user)
            a = self.moderator.refusal(bot, session, "question")
        else:
            turn = bot.ask(question, session=session, city=city or None)
            self.sessions.put(turn.session, user)
            session, a = turn.session, turn.answer
            if self.moderator.check(a.answer, stage="answer", user=user, channel=channel).blocked:
                a = self.moderator.refusal(bot, session, "answer")
        if a.reason == BLOCKED_REASON:
            log.warning("content blocked: message %s, user %s", a.message_id, user_tag(user))
        grounding = self.grounding(bot, text, a) if explain else None
        if grounding is not None:
            assert self.explainer is not None
            e = self.explainer.explain(grounding, a.answer, extra_check=self._answer_check(user, channel))
            a = self._with_explanation(a, e)
        try:
            self.store.log_message(
                a.message_id,
                a.session_id,
                question,
                a.answer,
                a.in_scope,
                session.last_measure if a.in_scope else None,
                a.reason,
                user,
            )
        except StorageUnavailable as exc:
            # answering never depends on the log; feedback on this message will 404
            log.warning("message log unavailable: %s", exc.detail)
        return a

    # --- the optional LLM explanation (bot/llm.py) ----------------------------------------------------
    def grounding(self, bot: PolicyBot, question: str, answer: Answer) -> Grounding | None:
        """What the LLM may explain: answered turns only - never a refusal, a note or a blocked question."""
        if self.explainer is None or not answer.in_scope or not answer.citations or answer.reason == BLOCKED_REASON:
            return None
        return ground_answer(bot, question, answer)

    def _answer_check(self, user: str | None, channel: Channel) -> Callable[[str], bool]:
        """Generated text passes the same content check as every answer."""
        return lambda text: self.moderator.check(text, stage="answer", user=user, channel=channel).blocked

    @staticmethod
    def _with_explanation(answer: Answer, e: Explanation) -> Answer:
        # citations and offices stay those of the deterministic decision
        return answer.model_copy(update={"answer": e.text, "ai_generated": True}) if e.ai_generated else answer

    def ask_for_stream(
        self,
        question: str,
        *,
        session_id: str | None,
        city: str | None,
        client: str,
        user: str | None = None,
    ) -> tuple[Answer, Grounding | None]:
        """The deterministic answer (logged as usual) and, when the LLM may explain it, its Grounding."""
        answer = self.ask(question, session_id=session_id, city=city, client=client, user=user, explain=False)
        return answer, self.grounding(self.bot, self.bot.validate(question), answer)

    def explain_stream(
        self, answer: Answer, grounding: Grounding, user: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Guarded sentences of the explanation, ending in Done or Fallback (see :meth:`Explainer.stream`)."""
        assert self.explainer is not None
        return self.explainer.stream(grounding, answer.answer, extra_check=self._answer_check(user, "api"))

    async def explain_whole(self, answer: Answer, grounding: Grounding, user: str | None = None) -> Answer:
        """The answer with the whole explanation checked first (``llm_stream_mode=buffered``)."""
        assert self.explainer is not None
        e = await self.explainer.aexplain(grounding, answer.answer, extra_check=self._answer_check(user, "api"))
        return self._with_explanation(answer, e)

    def feedback(self, message_id: str, helpful: bool, comment: str | None, user: str | None = None) -> int:
        return self.store.add_feedback(message_id, helpful, comment, user)

    # --- browsing ---------------------------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(doc=d.slug, title=d.title, name=d.name, issuer=d.issuer, date=d.date, measures=len(d.measures))
            for d in self.bot.index.documents
        ]

    def measures(self) -> list[SectionInfo]:
        out: list[SectionInfo] = []
        for d in self.bot.index.documents:
            for m in d.measures:
                if not out or out[-1].doc != d.slug or out[-1].heading != m.section:
                    out.append(SectionInfo(doc=d.slug, heading=m.section, measures=[]))
                out[-1].measures.append(_measure_info(m))
        return out

    def measure(self, doc: str, number: int) -> MeasureInfo:
        mid = f"{doc}#{number}"
        if mid not in self.bot.index.measure_row:
            raise NotFound("没有找到这条措施", detail=mid)
        return _measure_info(self.bot.index.measure(mid))

    def offices(self) -> list[OfficeInfo]:
        bot = self.bot
        used: dict[str, list[int]] = {}
        for m in bot.index.measures:
            for u in m.units:
                used.setdefault(u, []).append(m.number)
        out = []
        for name, measures in used.items():
            o = bot.directory.lookup(name)
            out.append(
                OfficeInfo(
                    name=name,
                    full_name=o.confirmed_full_name,
                    full_name_unconfirmed=o.full_name if o.full_name and not o.confirmed_full_name else None,
                    kind=o.kind,
                    handles=o.handles,
                    measures=measures,
                )
            )
        return out

    def cities(self) -> list[CityInfo]:
        return [CityInfo(name=c.name, bureau=c.bureau) for c in self.bot.directory.cities]

    # --- administration ---------------------------------------------------------------------------
    def status(self) -> IndexStatus:
        bot = self._bot
        m = bot.index.manifest if bot else None
        return IndexStatus(
            ready=bot is not None,
            version=bot.index.version if bot else None,
            model_id=m.model_id if m else None,
            built_at=m.built_at if m else None,
            measures=len(bot.index.measures) if bot else 0,
            reindex=self._reindex.state,
            last_error=self._reindex.last_error,
            llm=self.explainer.stats() if self.explainer else None,
        )

    def start_reindex(self) -> bool:
        """Rebuild in a background thread and swap the bot when done. False if one is already running."""
        with self._reindex_lock:
            if self._reindex.state == "running":
                return False
            self._reindex.state = "running"
        threading.Thread(target=self._run_reindex, name="reindex", daemon=True).start()
        return True

    def _run_reindex(self) -> None:
        started = time.perf_counter()
        try:
            emb = self._embeddings or make_embeddings(self.settings)
            self._embeddings = emb
            build_index(self.settings, emb)
            # answers keep using the old bot until this single reference assignment
            self._bot = PolicyBot.with_index(self.settings, load_index(self.settings, emb), emb)
            self._reindex = _Reindex("idle", None)
            self._disk_checked_at = float("-inf")  # look at the disk afresh on the next readiness probe
            log.info("reindex done in %.1fs", time.perf_counter() - started)
        except Exception as exc:
            self._reindex = _Reindex("failed", f"{type(exc).__name__}: {exc}")
            log.exception("reindex failed")


def _measure_info(m: Measure) -> MeasureInfo:
    return MeasureInfo(
        doc=m.doc,
        measure=m.number,
        label=m.label,
        section=m.section,
        text=m.text,
        sentences=list(m.sentences),
        units=list(m.units),
        units_text=m.units_text,
    )
