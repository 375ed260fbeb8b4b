"""Content security: a pluggable check on every question and every answer.

Two checks behind one :class:`ContentCheck` protocol:

* :class:`WeChatSecCheck` - WeChat ``msgSecCheck`` v2 (``scene`` 2 = comment), used for mini-program users
  (it needs their openid). ``errcode`` is 0 even for a violation; the decision is ``result.suggest``.
* :class:`LocalWordFilter` - the word list ``index/sensitive_words.txt``, matched after normalisation
  (NFKC, Simplified, lower case, no spaces or punctuation). Used for anonymous users, for the Official Account
  (its openids make msgSecCheck fail with 43104) and as the fallback of the remote check.

Failure policy (never takes the service down):

* the local filter fails open: a missing or unreadable word list logs a warning and passes everything;
* the remote check falls back to the local filter on any error (timeout, ``-1`` busy, 43104, bad reply).

What a block looks like (documented choice): HTTP 200 with an Answer-shaped body, ``in_scope: false``,
``reason: "content_blocked"``, no citations and a neutral text from ``prompts/wechat.toml`` - so the
mini-program, the SSE stream and the Official Account render it like any other refusal. The question is
stored masked (:mod:`bot.store`) under that reason; the log line carries only the message id and user tag.

Example::

    >>> mod = Moderator.from_settings(settings)
    >>> mod.check("外卖骑手摔伤了怎么办", stage="question", user=None).blocked
    False
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cachetools import LRUCache

from bot.answer import Answer, PolicyBot, Session
from bot.config import Settings
from bot.errors import PolicyBotError
from bot.text import strip_invisible
from bot.wechat.client import SEC_CHECK_MAX_CHARS, Suggest, WeChatClient

log = logging.getLogger("policybot.moderation")

Stage = Literal["question", "answer"]
# "api": the user (if any) is a mini-program openid; "official_account": an Official Account openid
Channel = Literal["api", "official_account"]
BLOCKED_REASON = "content_blocked"
_SEVERITY: dict[str, int] = {"pass": 0, "review": 1, "risky": 2}
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


@dataclass(frozen=True)
class Verdict:
    suggest: Suggest
    source: Literal["wechat", "local", "off"]
    label: str = ""
    blocked: bool = False


class ContentCheck(Protocol):
    def check(self, text: str, *, openid: str | None, stage: Stage) -> Verdict: ...


# --- local filter --------------------------------------------------------------------------------------
class LocalWordFilter:
    """Substring match of a small word list on normalised text. Thread-safe (immutable after load)."""

    def __init__(self, words: list[str]) -> None:
        import opencc

        self._cc = opencc.OpenCC("t2s")
        self.words = tuple(sorted({w for w in (self.normalize(x) for x in words) if w}, key=len, reverse=True))

    @classmethod
    def from_file(cls, path: Path) -> LocalWordFilter:
        """Load the list; a missing or unreadable file fails open (empty list, warning)."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("sensitive word list %s unavailable (%s): local filter passes everything", path, exc)
            lines = []
        return cls([ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")])

    def normalize(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", strip_invisible(text))
        return _NOT_WORD.sub("", self._cc.convert(text).lower())

    def match(self, text: str) -> str | None:
        norm = self.normalize(text)
        return next((w for w in self.words if w in norm), None)

    def check(self, text: str, *, openid: str | None = None, stage: Stage = "question") -> Verdict:
        try:
            hit = self.match(text)
        except Exception:  # fail open: a filter bug must not stop answering
            log.exception("local content filter failed: passing")
            return Verdict("pass", "local")
        # the label names the category line, never the user's text
        return Verdict("risky", "local", label="word") if hit else Verdict("pass", "local")


# --- WeChat msgSecCheck --------------------------------------------------------------------------------
class WeChatSecCheck:
    """msgSecCheck v2 for mini-program users; anything else (or any failure) goes to ``fallback``."""

    def __init__(self, client: WeChatClient, fallback: LocalWordFilter, timeout: float) -> None:
        self.client = client
        self.fallback = fallback
        self.timeout = timeout

    def check(self, text: str, *, openid: str | None, stage: Stage) -> Verdict:
        if not openid:
            return self.fallback.check(text, openid=None, stage=stage)
        worst: Verdict | None = None
        try:
            for start in range(0, max(len(text), 1), SEC_CHECK_MAX_CHARS):
                r = self.client.msg_sec_check(
                    text[start : start + SEC_CHECK_MAX_CHARS], openid=openid, timeout=self.timeout
                )
                v = Verdict(r.suggest, "wechat", label=str(r.label))
                if worst is None or _SEVERITY[v.suggest] > _SEVERITY[worst.suggest]:
                    worst = v
                if v.suggest == "risky":
                    break
        except PolicyBotError as exc:
            # documented choice: the remote check failing never blocks answering; the local list decides
            log.warning("msgSecCheck unavailable (%s: %s): using the local filter", exc.code, exc.detail)
            return self.fallback.check(text, openid=openid, stage=stage)
        assert worst is not None
        if worst.suggest == "pass":
            # a word on our own list is refused even when WeChat lets it through
            local = self.fallback.check(text, openid=openid, stage=stage)
            if local.suggest != "pass":
                return local
        return worst


class _Off:
    def check(self, text: str, *, openid: str | None, stage: Stage) -> Verdict:
        return Verdict("pass", "off")


# --- the moderator ---------------------------------------------------------------------------------------
class Moderator:
    """Decides per question and per answer; builds the neutral refusal. Thread-safe."""

    def __init__(
        self,
        remote: ContentCheck,
        local: ContentCheck,
        texts: dict[str, str],
        *,
        block_review: bool = False,
        cache_size: int = 1024,
    ) -> None:
        self.remote = remote
        self.local = local
        self.texts = texts
        self.block_review = block_review
        # answers are composed from a fixed notice and repeat often: cache their verdicts by content
        self._answers: LRUCache[str, Verdict] = LRUCache(maxsize=max(cache_size, 1))
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, client: WeChatClient | None = None) -> Moderator:
        texts = load_texts(settings.prompts_dir / "wechat.toml")
        if settings.moderation == "off":
            return cls(_Off(), _Off(), texts)
        local = LocalWordFilter.from_file(settings.sensitive_words_path)
        configured = bool(settings.wechat_appid and settings.wechat_secret)
        remote: ContentCheck = local
        if settings.moderation == "wechat" or (settings.moderation == "auto" and configured):
            if client is None and configured:
                client = WeChatClient.for_miniprogram(settings)
            if client is not None:
                remote = WeChatSecCheck(client, local, settings.moderation_timeout_seconds)
            else:
                log.warning("moderation=wechat but the mini-program AppID/secret are not set: local filter only")
        return cls(remote, local, texts, block_review=settings.moderation_block_review)

    def check(self, text: str, *, stage: Stage, user: str | None, channel: Channel = "api") -> Verdict:
        """The verdict for one text; ``blocked`` says whether to refuse it."""
        check = self.remote if channel == "api" else self.local
        openid = user if channel == "api" else None
        key = hashlib.sha256(text.encode("utf-8")).hexdigest() if stage == "answer" else ""
        if key:
            with self._lock:
                cached = self._answers.get(key)
            if cached is not None:
                return cached
        v = check.check(text, openid=openid, stage=stage)
        blocked = v.suggest == "risky" or (v.suggest == "review" and self.block_review)
        verdict = Verdict(v.suggest, v.source, v.label, blocked)
        if key and v.source == "wechat":
            with self._lock:
                self._answers[key] = verdict
        return verdict

    def refusal(self, bot: PolicyBot, session: Session, stage: Stage) -> Answer:
        """The neutral, Answer-shaped reply to a blocked question or answer."""
        hotline = bot.directory.hotline
        text = self.texts[f"{stage}_blocked"].format(hotline=hotline.number, hotline_name=hotline.name)
        return bot.plain_answer(text, session, BLOCKED_REASON)


def load_texts(path: Path) -> dict[str, str]:
    """The ``[moderation]`` table of ``prompts/wechat.toml``."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in raw["moderation"].items()}
