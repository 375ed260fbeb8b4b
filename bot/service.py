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
from typing import TypeVar

from pydantic import BaseModel, Field

from bot.answer import Answer, PolicyBot, Session
from bot.auth import user_tag
from bot.batching import BatchingEmbeddings
from bot.config import Settings
from bot.embeddings import VectorEmbeddings, make_embeddings
from bot.errors import InvalidQuestion, NotFound, PolicyBotError
from bot.guard import Grounding
from bot.index import build_index, build_lock, current_generation, ensure_index, load_index, staleness
from bot.ingest import Measure
from bot.llm import Explainer, ExplainerStats, Explanation, StreamEvent, explainable, ground_answer
from bot.moderation import BLOCKED_REASON, Channel, Moderator
from bot.privacy import clean_text
from bot.sessions import MemorySessionStore, RateLimiter, SessionStore
from bot.shared import WORKER_ID, RedisAnswerCache, RedisSessionStore, SharedState, WorkerRegistry
from bot.store import FeedbackStore, MessageStore, StorageUnavailable

log = logging.getLogger("policybot.service")


DISK_CHECK_SECONDS = 5.0
T = TypeVar("T")


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
    doc_number: str = ""
    issuers: list[str] = []
    date_iso: str = ""
    region: str = ""
    region_level: str = ""
    effective_from: str = ""
    expires: str = ""
    status: str = "current"  # today: current | expired | superseded | retired


class MeasureInfo(BaseModel):
    doc: str
    measure: int
    label: str
    section: str
    text: str
    sentences: list[str]
    cited: str = ""
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


class WorkerGeneration(BaseModel):
    worker: str
    generation: str | None


class IndexStatus(BaseModel):
    ready: bool
    version: str | None
    model_id: str | None
    built_at: str | None
    measures: int
    reindex: str = Field(description="idle | running | failed")
    last_error: str | None
    trigger: str | None = Field(None, description="What started the last rebuild: admin, cli, files: <why>")
    attempts: int = Field(0, description="Rebuilds started by this process")
    failures: int = Field(0, description="Consecutive failed rebuilds (reset by a success)")
    next_attempt_in_seconds: float | None = Field(None, description="After a failure: when files may retry")
    problems: list[str] = Field(default_factory=list, description="Sources or example lines skipped, and why")
    storage: str = Field("", description="Health of the message and feedback store")
    worker: str = Field("", description="This worker (host:pid)")
    workers: list[WorkerGeneration] = Field(
        default_factory=list, description="Every live worker and the index generation it serves (with Redis)"
    )
    llm: ExplainerStats | None = None  # replies served by the LLM and fallbacks by reason, when configured


@dataclass
class _Reindex:
    state: str = "idle"  # idle | running | failed
    last_error: str | None = None
    trigger: str | None = None
    attempts: int = 0
    failures: int = 0
    retry_at: float = 0.0  # monotonic; the file watcher does not retry before this
    rebuild: bool = True  # False: the last run only loaded a generation another process built


class ChatService:
    def __init__(
        self,
        settings: Settings,
        *,
        bot: PolicyBot | None = None,
        sessions: SessionStore | None = None,
        store: MessageStore | None = None,
        moderator: Moderator | None = None,
        explainer: Explainer | None = None,
    ) -> None:
        self.settings = settings
        # the optional plain-language explanation (bot/llm.py): only when POLICYBOT_LLM_BASE_URL is set
        self.explainer = explainer or Explainer.from_settings(settings)
        self.shared = SharedState.connect(settings.redis_url) if settings.redis_url else None
        self.workers = WorkerRegistry(self.shared) if self.shared else None
        self._bot: PolicyBot | None = None
        self._embeddings: VectorEmbeddings | None = bot.embeddings if bot else None
        if bot is not None:
            self._adopt(bot)
        self.sessions: SessionStore
        if sessions is not None:
            self.sessions = sessions
        elif self.shared is not None:
            self.sessions = RedisSessionStore(self.shared, settings.session_ttl_seconds, settings.session_max_turns)
        else:
            self.sessions = MemorySessionStore(
                settings.session_ttl_seconds, settings.max_sessions, settings.session_max_turns
            )
        self.store: MessageStore = store or _default_store(settings)
        self.limiter = RateLimiter(
            settings.rate_limit_session,
            settings.rate_limit_client,
            settings.rate_limit_feedback,
            settings.rate_limit_new_sessions,
            cost_chars=settings.rate_limit_cost_chars,
            storage_uri=settings.redis_url,
        )
        self.moderator = moderator or Moderator.from_settings(settings)
        self._reindex = _Reindex()
        self._reindex_lock = threading.Lock()
        self._disk_checked_at = float("-inf")
        self._disk_problem: str | None = None
        self.load_error: str | None = None
        self._unloadable_generation: str | None = None  # a generation built elsewhere that failed to load here
        self._stop = threading.Event()
        self._maintenance: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------
    def load(self) -> None:
        """Load (and if needed build) the index. Heavy: runs once, in the lifespan's background thread."""
        try:
            emb = self._query_embeddings()
            bot = self._adopt(PolicyBot.with_index(self.settings, ensure_index(self.settings, emb), emb))
            if self._reindex.state == "failed":
                self._succeeded()  # the watcher's retry of a failed start worked
            self.load_error = None
            log.info("index %s loaded", bot.index.version)
        except Exception as exc:  # reported by /readyz; the process stays up, the watcher retries with backoff
            self.load_error = f"{type(exc).__name__}: {exc}"
            self._failed(self.load_error)
            log.exception("index load failed")

    def _query_embeddings(self) -> VectorEmbeddings:
        """The configured engine, its query vectors micro-batched across concurrent requests."""
        if self._embeddings is None:
            emb = make_embeddings(self.settings)
            if self.settings.embed_batch_max > 1:
                emb = BatchingEmbeddings(
                    emb, max_batch=self.settings.embed_batch_max, max_wait_ms=self.settings.embed_batch_wait_ms
                )
            self._embeddings = emb
        return self._embeddings

    def _adopt(self, bot: PolicyBot) -> PolicyBot:
        """Serve ``bot`` from now on (one reference assignment); with Redis its answer cache is the shared one,
        namespaced by the index generation."""
        if self.shared is not None and self.settings.answer_cache_size > 0 and hasattr(bot, "_answers"):
            bot._answers = RedisAnswerCache(self.shared, namespace=bot.index.version)  # type: ignore[assignment]
        self._bot = bot
        if self.workers is not None:
            self.workers.announce(bot.index.version)
        return bot

    @property
    def ready(self) -> bool:
        return self._bot is not None

    @property
    def bot(self) -> PolicyBot:
        if self._bot is None:
            raise NotReady("服务正在启动，请稍后再试", detail=self.load_error or "index loading")
        return self._bot

    def readiness(self) -> tuple[bool, str]:
        """Ready when an index is loaded, the one on disk is sound and the store is healthy.

        A probe never starts a rebuild (the file watcher, the admin endpoint and the CLI do). The index on disk
        is what the next start (or another worker) loads, so it is checked too - at most every
        ``DISK_CHECK_SECONDS``, cheaply (manifest and source hashes). A missing or corrupt index is "not
        ready"; a merely stale one (new sources, other model, edited lexicon) stays ready. A sound generation
        that another process swapped in (``policybot docs add``, another worker) is loaded in the background
        - a reload, not a rebuild, and one that failed to load is not tried again. A failed rebuild and the
        sources it skipped are in the detail, and so is the store's health.
        """
        if self._bot is None:
            return False, "; ".join(p for p in (self.load_error or "index loading", self._reindex_note()) if p)
        now = time.monotonic()
        if now - self._disk_checked_at > DISK_CHECK_SECONDS:
            self._disk_checked_at = now
            self._disk_problem = staleness(self.settings)
        ok = True
        parts = [f"index {self._bot.index.version} loaded"]
        problem = self._disk_problem
        if problem is not None:
            ok = not (problem == "missing" or problem.startswith(("corrupt", "format")))
            parts.append(f"index on disk: {problem}")
        elif self._reindex.state != "running":
            swapped = self._generation_built_elsewhere()
            if swapped is not None:
                # another process (policybot docs add, another worker) swapped in a newer generation: load it
                # (a reload, never a rebuild; a generation that failed to load is not retried)
                self.start_reindex(trigger=f"files: generation {swapped} built elsewhere", rebuild=False)
                parts.append(f"index on disk: generation {swapped} built elsewhere")
        parts.append(self._reindex_note())
        problems = self._bot.index.manifest.problems
        if problems:
            parts.append(f"{len(problems)} skipped: {problems[0]}")
        health = self.store.health()
        if not health.ok:
            ok = False
            parts.append(health.detail)
        return ok, "; ".join(p for p in parts if p)

    def _reindex_note(self) -> str:
        r = self._reindex
        if r.state == "running":
            return "rebuilding" if r.rebuild else "loading a new generation"
        if r.state == "failed":
            wait = max(0.0, r.retry_at - time.monotonic())
            what = "rebuild" if r.rebuild else "loading a generation built elsewhere"
            return f"{what} failed ({r.failures}x): {r.last_error}; next automatic attempt in {wait:.0f}s"
        return ""

    def _generation_built_elsewhere(self) -> str | None:
        """The name of the generation on disk when it is not the one served (another process swapped it in)
        and has not already failed to load here; None otherwise."""
        on_disk = current_generation(self.settings.build_path)
        if on_disk is None or self._bot is None or on_disk == self._bot.index.path:
            return None
        return None if on_disk.name == self._unloadable_generation else on_disk.name

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
        question = clean_text(question)
        who = user or client
        self.limiter.check(who, session_id, cost=self.limiter.cost(question))
        session = self.sessions.get(session_id, user)
        if session is None:
            self.limiter.check_new_session(who)  # a flood of new conversations cannot evict citizens' ones
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
                user_tag(user) if user else None,  # an openid is stored as its tag only, like in every log
            )
        except StorageUnavailable as exc:
            # answering never depends on the log; feedback on this message will 404. The store logged the
            # breakage once and /readyz reports it.
            log.debug("message log unavailable: %s", exc.detail)
        return a

    # --- the optional LLM explanation (bot/llm.py) ----------------------------------------------------
    def grounding(self, bot: PolicyBot, question: str, answer: Answer) -> Grounding | None:
        """What the LLM may explain: answered turns only - never a refusal, a note or a blocked question."""
        if self.explainer is None or answer.reason == BLOCKED_REASON or not explainable(answer):
            return None
        return ground_answer(bot, question, answer)

    def _answer_check(self, user: str | None, channel: Channel) -> Callable[[str], bool]:
        """Generated text passes the same content check as every answer."""
        return lambda text: self.moderator.check(text, stage="answer", user=user, channel=channel).blocked

    @staticmethod
    def _with_explanation(answer: Answer, e: Explanation) -> Answer:
        # citations and offices stay those of the deterministic decision; a generated reply has no lead in the
        # notice's words, so clients show its whole text (web/js/render.js bubbleText)
        if not e.ai_generated:
            return answer
        return answer.model_copy(update={"answer": e.text, "lead": "", "ai_generated": True})

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
        return answer, self.grounding(self.bot, self.bot.validate(clean_text(question)), answer)

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

    def feedback(
        self, message_id: str, helpful: bool, comment: str | None, user: str | None = None, client: str = "unknown"
    ) -> int:
        self.limiter.check_feedback(user or client)
        comment = clean_text(comment) if comment else None
        return self.store.add_feedback(message_id, helpful, comment, user_tag(user) if user else None)

    # --- browsing ---------------------------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(
                doc=d.slug,
                title=d.title,
                name=d.name,
                issuer=d.issuer,
                date=d.date,
                measures=len(d.measures),
                doc_number=d.doc_number,
                issuers=list(d.issuers),
                date_iso=d.date_iso,
                region=d.region,
                region_level=d.region_level,
                effective_from=d.effective_from,
                expires=d.expires,
                status=d.status_on(),
            )
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
        r = self._reindex
        return IndexStatus(
            ready=bot is not None,
            version=bot.index.version if bot else None,
            model_id=m.model_id if m else None,
            built_at=m.built_at if m else None,
            measures=len(bot.index.measures) if bot else 0,
            reindex=r.state,
            last_error=r.last_error,
            trigger=r.trigger,
            attempts=r.attempts,
            failures=r.failures,
            next_attempt_in_seconds=round(max(0.0, r.retry_at - time.monotonic()), 1) if r.state == "failed" else None,
            problems=list(m.problems) if m else [],
            storage=self.store.health().detail,
            worker=WORKER_ID,
            workers=[
                WorkerGeneration(worker=str(w.get("worker")), generation=w.get("generation"))
                for w in (self.workers.workers() if self.workers else [])
            ],
            llm=self.explainer.stats() if self.explainer else None,
        )

    def start_reindex(self, trigger: str = "admin", *, rebuild: bool = True) -> bool:
        """Rebuild (or with ``rebuild=False`` only reload the generation on disk) in a background thread and
        swap the bot when done. ``trigger`` says why (admin, cli, files: <why>). False if one is already
        running."""
        with self._reindex_lock:
            if self._reindex.state == "running":
                return False
            self._reindex.state = "running"
            self._reindex.rebuild = rebuild
            if rebuild:  # loading a generation another process built is not a rebuild of this one
                self._reindex.trigger = trigger
                self._reindex.attempts += 1
        log.info("reindex started (%s%s)", trigger, "" if rebuild else ", reload only")
        threading.Thread(target=self._run_reindex, args=(rebuild,), name="reindex", daemon=True).start()
        return True

    def _run_reindex(self, rebuild: bool = True) -> None:
        started = time.perf_counter()
        target = None if rebuild else current_generation(self.settings.build_path)
        try:
            self.rebuild_and_swap(build=rebuild, skip_if_fresh=(self._reindex.trigger or "").startswith("files:"))
            self._succeeded()
            problems = self.bot.index.manifest.problems
            log.info(
                "reindex done in %.1fs: index %s%s",
                time.perf_counter() - started,
                self.bot.index.version,
                f" ({len(problems)} skipped: {'; '.join(problems)[:500]})" if problems else "",
            )
        except Exception as exc:
            if target is not None:
                self._unloadable_generation = target.name  # not retried until another generation replaces it
            self._failed(f"{type(exc).__name__}: {exc}")
            log.error("reindex failed: %s", self._reindex.last_error, exc_info=not isinstance(exc, PolicyBotError))

    def _succeeded(self) -> None:
        """A generation was built or loaded and is served: clear the failure record and its backoff."""
        self.load_error = None
        with self._reindex_lock:
            r = self._reindex
            r.state, r.last_error, r.failures, r.retry_at = "idle", None, 0, 0.0

    def _failed(self, error: str) -> None:
        """Record a failed build or load; the watcher waits ``backoff × 2^(failures-1)`` before the next one."""
        s = self.settings
        with self._reindex_lock:
            r = self._reindex
            r.state, r.last_error = "failed", error
            r.failures += 1
            wait = min(s.reindex_backoff_seconds * 2 ** (r.failures - 1), s.reindex_backoff_max_seconds)
            r.retry_at = time.monotonic() + wait

    # --- background maintenance ---------------------------------------------------------------------
    def watch_index(self) -> None:
        """One look at the files: load a generation another process built, rebuild when the sources, the
        lexicon or the index on disk changed - never again within the backoff after a failure."""
        s = self.settings
        r = self._reindex
        if r.state == "running":
            return
        if self._bot is None:
            if self.load_error is not None and time.monotonic() >= r.retry_at:
                self.load()
            return
        problem = staleness(s)
        self._disk_problem, self._disk_checked_at = problem, time.monotonic()
        if problem is None:
            swapped = self._generation_built_elsewhere()
            if swapped is not None:
                self.start_reindex(trigger=f"files: generation {swapped} built elsewhere", rebuild=False)
            return
        if not s.auto_build_index:
            return
        if r.state == "failed" and time.monotonic() < r.retry_at:
            return
        self.start_reindex(trigger=f"files: {problem}")

    def purge_expired(self) -> int:
        days = self.settings.retention_days
        if days <= 0:
            return 0
        try:
            return self.store.purge(days)
        except StorageUnavailable as exc:
            log.warning("retention purge skipped: %s", exc.detail)
            return 0

    def start_background(self) -> None:
        """The maintenance thread: file watch, retention purge, storage health. Idempotent."""
        if self._maintenance is not None:
            return
        self._stop.clear()
        thread = threading.Thread(target=self._maintain, name="maintenance", daemon=True)
        thread.start()
        # published only once started: a concurrent stop_background never sees an unstarted thread
        self._maintenance = thread

    def stop_background(self) -> None:
        self._stop.set()
        thread, self._maintenance = self._maintenance, None
        if thread is not None and thread.ident is not None:
            thread.join(timeout=10)

    def _maintain(self) -> None:
        s = self.settings
        watch = s.index_watch_seconds
        next_purge = next_watch = next_health = next_beat = time.monotonic()
        tick = min(x for x in (watch or 1.0, s.storage_check_seconds, 1.0) if x > 0)
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if watch > 0 and now >= next_watch:
                    next_watch = now + watch
                    self.watch_index()
                if now >= next_purge:
                    next_purge = now + s.purge_interval_seconds
                    self.purge_expired()
                if now >= next_health:
                    next_health = now + s.storage_check_seconds
                    self.store.health()
                if self.workers is not None and now >= next_beat:
                    next_beat = now + 5.0
                    self.workers.announce(self._bot.index.version if self._bot else None)
            except Exception:  # the thread must survive anything one round does
                log.exception("maintenance round failed")
            self._stop.wait(tick)

    def rebuild_and_swap(self, *, build: bool = True, skip_if_fresh: bool = False) -> None:
        """Build a new generation from the sources (or with ``build=False`` only load the one on disk), load it
        and swap the bot. Answers keep using the old bot until the single reference assignment. Holds the build
        lock throughout, so a concurrent change of the sources, another rebuild or another process's build
        waits and the newest generation is the one served. ``skip_if_fresh``: see :func:`bot.index.build_index`
        (workers that saw the same file change build once).
        """
        emb = self._query_embeddings()
        with build_lock(self.settings.build_path):
            if build:
                build_index(self.settings, emb, skip_if_fresh=skip_if_fresh)
            on_disk = current_generation(self.settings.build_path)
            # a reload queued behind a change that already served this generation has nothing to do
            if self._bot is None or on_disk != self._bot.index.path:
                self._adopt(PolicyBot.with_index(self.settings, load_index(self.settings, emb), emb))
        self._disk_checked_at = float("-inf")  # look at the disk afresh on the next readiness probe

    def change_documents(self, change: Callable[[Callable[[], None]], T]) -> T:
        """Run a knowledge-base change (``bot.catalog.KnowledgeBase`` add/retire/remove) with this service's
        rebuild: synchronous, serialised with background reindexing, the new generation served on return. A
        successful change also ends the backoff of an earlier failed rebuild (the sources were just built)."""
        result = change(self.rebuild_and_swap)
        if self._reindex.state == "failed":
            self._succeeded()
        return result


def _default_store(settings: Settings) -> MessageStore:
    if settings.database_url:
        from bot.pgstore import PostgresStore  # psycopg is needed only with PostgreSQL

        return PostgresStore(
            settings.database_url,
            max_feedback_per_message=settings.feedback_max_per_message,
            max_size=settings.database_pool_size,
        )
    return FeedbackStore(
        settings.db_path,
        check_seconds=settings.storage_check_seconds,
        max_feedback_per_message=settings.feedback_max_per_message,
    )


def _measure_info(m: Measure) -> MeasureInfo:
    return MeasureInfo(
        doc=m.doc,
        measure=m.number,
        label=m.label,
        cited=m.cited,
        section=m.section,
        text=m.text,
        sentences=list(m.sentences),
        units=list(m.units),
        units_text=m.units_text,
    )
