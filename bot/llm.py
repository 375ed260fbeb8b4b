"""Optional plain-language explanation of a decided answer by a chat model, behind the grounding guard.

Off by default. With ``POLICYBOT_LLM_BASE_URL`` (+ ``_MODEL``, ``_API_KEY``, ``_TIMEOUT_SECONDS``) set, an
:class:`Explainer` asks any OpenAI-compatible endpoint through langchain-openai's ``ChatOpenAI`` to retell
the deterministic answer in plain words. It is called only after the decision, only for answered (or partly
answered) questions - never for refused or blocked ones - and the prompts (``prompts/llm.toml``) are filled
only with the decision's measures, quotes, offices, contact and the question (:class:`bot.guard.Grounding`).

Nothing unchecked reaches a citizen:

* :meth:`Explainer.explain` (``/v1/ask``, the Official Account, ``policybot eval --llm``) waits for the
  whole reply, at most ``llm_timeout_seconds``, and returns it only when :func:`bot.guard.check` finds every
  claim grounded; otherwise - a violation, a timeout, an endpoint error, an empty reply, too many replies
  in flight, the content check - the deterministic text, with ``fallback_reason`` saying why;
* :meth:`Explainer.stream` (``/v1/ask/stream``) buffers tokens up to a sentence end (never inside
  quotation marks), checks the whole reply so far, and yields the sentence only when it passes. The first
  violation or a deadline ends the stream with a :class:`Fallback`: the client then replaces what it showed
  with the deterministic answer (``bot/api.py`` documents the frames).

Every fallback is logged (the rule and the claim) and counted: :meth:`Explainer.stats`.

Example::

    >>> explainer = Explainer.from_settings(settings)        # None unless POLICYBOT_LLM_BASE_URL is set
    >>> e = explainer.explain(grounding, answer.answer)
    >>> e.ai_generated, e.fallback_reason
    (True, None)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import tomllib
import weakref
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from bot.config import Settings
from bot.guard import Checker, Grounding, GuardRules, MeasureFacts, OfficeFacts, Violation, build_grounding

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

    from bot.answer import PolicyBot
    from bot.models import Answer

log = logging.getLogger("policybot.llm")

# fallback reasons besides "guard:<rule>"
TIMEOUT = "timeout"
ENDPOINT_ERROR = "endpoint_error"
EMPTY = "empty"
BUSY = "busy"
MODERATION = "moderation"

_SENTENCE_END = "。！？!?；;\n"
_OPENERS = {"“": "”", "「": "」", "『": "』", "《": "》", "（": "）", "(": ")"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


# --- results -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """What the citizen gets: the generated text (``ai_generated``) or the deterministic one and why."""

    text: str
    ai_generated: bool
    fallback_reason: str | None = None
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class Sentence:
    """A piece of the reply that passed the guard: show it."""

    text: str


@dataclass(frozen=True)
class Fallback:
    """Stop: show ``explanation.text`` (the deterministic answer) instead of every piece shown so far."""

    explanation: Explanation


@dataclass(frozen=True)
class Done:
    """The reply is complete and checked; ``explanation.text`` is every piece joined."""

    explanation: Explanation


StreamEvent = Sentence | Fallback | Done
ExtraCheck = Callable[[str], bool]  # True = refuse this text (the content check)


class ExplainerStats(BaseModel):
    replies: int
    served: int
    served_share: float
    fallbacks: dict[str, int]
    guard_rejections: dict[str, int]


# --- prompts ---------------------------------------------------------------------------------------------
class Prompts:
    """``prompts/llm.toml``: the system prompt and the answer / partial templates, filled from a Grounding."""

    def __init__(self, path: Path) -> None:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        self.system: str = raw["system"]
        self.answer: str = raw["answer"]
        self.partial: str = raw["partial"]
        self.items: dict[str, str] = raw["items"]

    def messages(self, g: Grounding) -> list[BaseMessage]:
        it = self.items
        lines = []
        for i, m in enumerate(g.measures):
            key = "measure" if i == 0 else "related"
            lines.append(it[key].format(label=m.label, cited=m.cited, section=m.section, text=m.text))
            if i == 0 and m.quote:
                lines.append(it["measure_quote"].format(quote=m.quote))
        offices = it["separator"].join(
            it["office_kind"].format(name=o.name, kind=o.kind, handles=o.handles)
            if o.kind and o.handles
            else it["office"].format(name=o.name)
            for o in g.offices
        )
        template = self.partial if g.kind == "partial" else self.answer
        human = template.format(
            question=g.question,
            measures=it["line_separator"].join(lines),
            offices=offices,
            contact=it["separator"].join(g.contact),
            sources=it["separator"].join(g.sources),
            not_covered=it["separator"].join(g.not_covered),
        )
        return [SystemMessage(self.system), HumanMessage(human)]


# --- sentences -------------------------------------------------------------------------------------------
def pop_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences at the start of ``buffer`` and the unfinished rest. A sentence ends at 。！？；
    or a newline outside quotation marks and brackets (or at a closing mark right after one: 他说：“好。”),
    and keeps the whitespace that follows it."""
    out: list[str] = []
    stack: list[str] = []
    start = 0
    i = 0
    n = len(buffer)
    while i < n:
        c = buffer[i]
        end = False
        if c in _CLOSERS and stack and stack[-1] == _CLOSERS[c]:
            stack.pop()
            end = not stack and i > 0 and buffer[i - 1] in _SENTENCE_END
        elif c in _OPENERS:
            stack.append(c)
        elif c in _SENTENCE_END and not stack:
            end = True
        i += 1
        if end:
            while i < n and buffer[i] in " \t\n":
                i += 1
            out.append(buffer[start:i])
            start = i
    return out, buffer[start:]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content if p)
    return ""


# --- the explainer ---------------------------------------------------------------------------------------
class Explainer:
    """Builds replies through ``ChatOpenAI`` and guards them. Thread-safe; one per process."""

    def __init__(self, settings: Settings, *, rules: GuardRules | None = None, prompts: Prompts | None = None) -> None:
        self.settings = settings
        self.timeout = settings.llm_timeout_seconds
        self.stream_timeout = max(settings.llm_stream_timeout_seconds, settings.llm_timeout_seconds)
        # imported here, not per reply: the first import takes a second, which no reply deadline should pay
        from langchain_openai import ChatOpenAI

        self._chat_model_class = ChatOpenAI
        self.rules = rules or GuardRules.load(settings.guard_path)
        self.prompts = prompts or Prompts(settings.prompts_dir / "llm.toml")
        self._lock = threading.Lock()
        self._replies = 0
        self._served = 0
        self._fallbacks: Counter[str] = Counter()
        self._rejections: Counter[str] = Counter()
        self._inflight = 0
        # one ChatOpenAI (and its httpx.AsyncClient) per event loop: a client's connections belong to one loop
        self._models: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChatOpenAI] = weakref.WeakKeyDictionary()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Explainer | None:
        return cls(settings) if settings.llm_enabled else None

    # --- the model ---------------------------------------------------------------------------------
    def _model(self) -> ChatOpenAI:
        loop = asyncio.get_running_loop()
        with self._lock:
            model = self._models.get(loop)
            if model is None:
                s = self.settings
                model = self._chat_model_class(
                    model=s.llm_model,
                    base_url=s.llm_base_url,
                    # an endpoint without keys still needs a non-empty one in the OpenAI client
                    api_key=s.llm_api_key.get_secret_value() if s.llm_api_key else "none",
                    timeout=self.stream_timeout,
                    max_retries=0,  # a retry would outlive the deadline; the deterministic answer is the retry
                    max_tokens=s.llm_max_tokens,
                    temperature=s.llm_temperature,
                    http_async_client=httpx.AsyncClient(timeout=httpx.Timeout(self.stream_timeout)),
                )
                self._models[loop] = model
        return model

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the synchronous :meth:`explain` runs on (started on first use)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="llm-loop", daemon=True)
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    # --- bookkeeping ---------------------------------------------------------------------------------
    def _enter(self) -> bool:
        with self._lock:
            if self._inflight >= self.settings.llm_max_concurrency:
                return False
            self._inflight += 1
            return True

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1

    def _served_reply(self, text: str) -> Explanation:
        with self._lock:
            self._replies += 1
            self._served += 1
        return Explanation(text, True)

    def _fallback(
        self, fallback_text: str, reason: str, violations: tuple[Violation, ...] = (), *, detail: str = ""
    ) -> Explanation:
        with self._lock:
            self._replies += 1
            self._fallbacks[reason] += 1
            for rule in dict.fromkeys(v.rule for v in violations):
                self._rejections[rule] += 1
        if violations:
            claims = "; ".join(f"{v.rule}: {v.claim[:40]}" for v in violations[:5])
            log.warning("llm reply rejected by the guard (%s): deterministic answer served", claims)
        else:
            suffix = f": {detail}" if detail else ""
            log.warning("llm reply not used (%s%s): deterministic answer served", reason, suffix)
        return Explanation(fallback_text, False, reason, violations)

    def stats(self) -> ExplainerStats:
        with self._lock:
            return ExplainerStats(
                replies=self._replies,
                served=self._served,
                served_share=round(self._served / self._replies, 4) if self._replies else 0.0,
                fallbacks=dict(self._fallbacks),
                guard_rejections=dict(self._rejections),
            )

    # --- the whole reply ------------------------------------------------------------------------------
    async def _generate(self, grounding: Grounding) -> str:
        message = await self._model().ainvoke(self.prompts.messages(grounding))
        return _content_text(message.content).strip()

    async def aexplain(
        self, grounding: Grounding, fallback_text: str, *, extra_check: ExtraCheck | None = None
    ) -> Explanation:
        """The checked reply or the deterministic text, within ``llm_timeout_seconds`` (+ the content check)."""
        if not self._enter():
            return self._fallback(fallback_text, BUSY)
        try:
            text = await self._bounded(grounding)
        except TimeoutError:
            return self._fallback(fallback_text, TIMEOUT, detail=f"> {self.timeout}s")
        except Exception as exc:  # any endpoint or client failure: the deterministic answer
            return self._fallback(fallback_text, ENDPOINT_ERROR, detail=f"{type(exc).__name__}: {exc}"[:200])
        finally:
            self._leave()
        return await asyncio.to_thread(self._accept, grounding, text, fallback_text, extra_check)

    def explain(
        self, grounding: Grounding, fallback_text: str, *, extra_check: ExtraCheck | None = None
    ) -> Explanation:
        """Synchronous :meth:`aexplain`, run on the explainer's own event loop; never raises."""
        if not self._enter():
            return self._fallback(fallback_text, BUSY)
        started = time.monotonic()
        try:
            future = asyncio.run_coroutine_threadsafe(self._bounded(grounding), self._background_loop())
            try:
                # the coroutine keeps its own deadline; the margin only covers a loop that is stuck
                text = future.result(timeout=self.timeout + 1.0)
            except (FutureTimeout, TimeoutError):
                future.cancel()
                return self._fallback(fallback_text, TIMEOUT, detail=f"{time.monotonic() - started:.2f}s")
            except Exception as exc:
                return self._fallback(fallback_text, ENDPOINT_ERROR, detail=f"{type(exc).__name__}: {exc}"[:200])
        finally:
            self._leave()
        return self._accept(grounding, text, fallback_text, extra_check)

    async def _bounded(self, grounding: Grounding) -> str:
        async with asyncio.timeout(self.timeout):
            return await self._generate(grounding)

    def _accept(
        self, grounding: Grounding, text: str, fallback_text: str, extra_check: ExtraCheck | None
    ) -> Explanation:
        if not text:
            return self._fallback(fallback_text, EMPTY)
        verdict = Checker(grounding, self.rules).check(text)
        if not verdict.ok:
            return self._fallback(fallback_text, f"guard:{verdict.violations[0].rule}", verdict.violations)
        if extra_check is not None and extra_check(text):
            return self._fallback(fallback_text, MODERATION)
        return self._served_reply(text)

    # --- streaming ------------------------------------------------------------------------------------
    async def stream(
        self, grounding: Grounding, fallback_text: str, *, extra_check: ExtraCheck | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Checked sentences as they complete, then :class:`Done` - or :class:`Fallback` at the first failure.

        Deadlines: the first checked sentence within ``llm_timeout_seconds``, the whole reply within
        ``llm_stream_timeout_seconds``. Each yielded sentence passed the guard on the whole reply so far
        (and ``extra_check``, run in a thread); nothing else is ever yielded.
        """
        if not self._enter():
            yield Fallback(self._fallback(fallback_text, BUSY))
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        checker = Checker(grounding, self.rules)
        shown = ""
        buffer = ""
        chunks: AsyncIterator[Any] | None = None
        try:
            chunks = self._model().astream(self.prompts.messages(grounding)).__aiter__()
            finished = False
            while not finished:
                deadline = started + (self.stream_timeout if shown else self.timeout)
                try:
                    async with asyncio.timeout(deadline - loop.time()):
                        chunk = await chunks.__anext__()
                    buffer += _content_text(chunk.content)
                    sentences, buffer = pop_sentences(buffer)
                except StopAsyncIteration:
                    finished = True
                    sentences, buffer = [buffer] if buffer.strip() else [], ""
                for sentence in sentences:
                    verdict = checker.check(shown + sentence)
                    if not verdict.ok:
                        reason = f"guard:{verdict.violations[0].rule}"
                        yield Fallback(self._fallback(fallback_text, reason, verdict.violations))
                        return
                    if extra_check is not None and await asyncio.to_thread(extra_check, sentence):
                        yield Fallback(self._fallback(fallback_text, MODERATION))
                        return
                    shown += sentence
                    yield Sentence(sentence)
        except TimeoutError:
            yield Fallback(self._fallback(fallback_text, TIMEOUT, detail=f"{loop.time() - started:.2f}s"))
            return
        except Exception as exc:  # the endpoint failed: the deterministic answer
            yield Fallback(self._fallback(fallback_text, ENDPOINT_ERROR, detail=f"{type(exc).__name__}: {exc}"[:200]))
            return
        finally:
            self._leave()
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # closing an aborted stream must not hide the answer
                    log.debug("closing the llm stream failed", exc_info=True)
        if not shown.strip():
            yield Fallback(self._fallback(fallback_text, EMPTY))
            return
        yield Done(self._served_reply(shown.strip()))


# --- the decision as a Grounding ---------------------------------------------------------------------
def explainable(answer: Answer) -> bool:
    """Whether the LLM may retell ``answer``: an answered (or partly answered) turn citing a clause, in
    Simplified Chinese - never a refusal, small talk, a note, or a reply in English or Traditional script
    (the prompts and the guard's vocabulary are Simplified Chinese)."""
    return (
        answer.in_scope
        and bool(answer.citations)
        and answer.outcome in ("answer", "partial")
        and (answer.lang == "zh-Hans")
    )


def ground_answer(bot: PolicyBot, question: str, answer: Answer) -> Grounding:
    """The Grounding of an answered turn: its citations (each clause's sentences via the index, the quote
    shown), offices, contact, sources and, for a partial answer, the part not covered. The only function
    here that knows the composer's types (``bot.models``)."""
    d = bot.directory
    measures = []
    for c in answer.citations:
        m = bot.index.measure(f"{c.doc}#{c.measure}")
        measures.append(MeasureFacts(c.doc, c.measure, c.label, c.title, tuple(m.sentences), c.quote))
    known = {d.issuer, *(c.bureau for c in d.cities)}
    for o in d.offices.values():
        known.add(o.name)
        if o.full_name:
            known.add(o.full_name)
    sources: list[str | None] = []
    for c in answer.citations:
        sources.extend([c.doc_title, c.doc_number])
    for s in answer.sources:
        doc = bot.index.doc_by_slug.get(s.doc)
        sources.extend([s.title, doc.name if doc else None, s.issuer, s.date, s.doc_number])
    partial = answer.outcome == "partial"
    return build_grounding(
        question,
        measures,
        [OfficeFacts(o.name, o.full_name, o.kind, o.handles) for o in answer.offices],
        known_offices=known,
        corpus_labels=[m.label for m in bot.index.measures],
        contact=[answer.bureau, d.local_kind, d.local_handles, d.hotline.number, d.hotline.name],
        sources=sources,
        kind="partial" if partial else "answer",
        not_covered=[answer.uncovered or ""] if partial else [],
    )
