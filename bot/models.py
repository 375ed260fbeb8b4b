"""Typed results every channel shares: the answer (the API contract of shared/DESIGN.md) and the session.

``Answer`` is what ``/v1/ask`` returns and what the composer (:mod:`bot.compose`) produces; ``Session`` is
the small conversation state a caller keeps between turns (JSON-friendly, so any store can hold it).

Example::

    >>> a = bot.ask("数字经济卓越工程师每年选多少人").answer
    >>> a.lead
    '文件写明：每年遴选培育1000名数字经济领域优秀工程技术人才。'
    >>> a.citations[0].label, a.in_scope
    ('（三）', True)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

Outcome = Literal["answer", "partial", "refuse", "smalltalk", "note"]
Lang = Literal["zh-Hans", "zh-Hant", "en"]


class Citation(BaseModel):
    doc: str = Field(description="Document id (slug) of the notice.")
    measure: int = Field(description="Position of the clause in its notice (1-based); ids are `<doc>#<measure>`.")
    label: str = Field(description="The clause label exactly as printed: （七）, 三、, 第十二条, 1.")
    cited: str = Field("", description="How to cite it: 第（七）条, 第三条, 第十二条, 第1条, 第3段.")
    title: str = Field(description="The section heading the clause sits under, as printed.")
    quote: str = Field(description="1-3 sentences of the clause, verbatim (always Simplified, as printed).")
    score: float = Field(description="Retrieval relevance of the clause to the question (higher is closer).")
    doc_title: str = Field("", description="Name of the notice (or of the measures it issues).")
    doc_number: str = Field("", description="文号 of the notice when printed.")
    status: str = Field("current", description="current | expired | superseded | retired (on the day asked).")
    region: str = Field("", description="Where the notice applies, as derived from its issuer (江苏省, 苏州市, 全国…).")


class OfficeRef(BaseModel):
    name: str = Field(description="Short name exactly as printed in the notice.")
    full_name: str | None = Field(None, description="Only when a public source confirms it.")
    kind: str | None = Field(None, description="What kind of body it is (office directory).")
    measure: int = Field(description="The clause that names this unit.")
    full_name_unconfirmed: str | None = Field(None, description="Likely full name, not confirmed: show as 全称待核实.")
    handles: str | None = Field(None, description="What it handles, in plain words (office directory).")
    handles_en: str | None = Field(None, description="The same in English, for English answers.")
    unit_kind: str = Field("责任单位", description="The word the notice prints before the units (责任单位, 牵头单位…).")


class SourceRef(BaseModel):
    doc: str = Field(description="Document id (slug).")
    title: str = Field(description="Title as printed.")
    issuer: str = Field(description="Issuing body or bodies as printed.")
    date: str = Field(description="Date as printed.")
    doc_number: str = Field("", description="文号 when printed.")


class Answer(BaseModel):
    answer: str = Field(description="The full reply text (lead first), ready to show.")
    lead: str = Field(
        "",
        description="The first line of `answer`: the direct answer in the notice's own words (empty for an "
        "AI生成 reply, which clients show whole).",
    )
    in_scope: bool = Field(description="True when a clause of the notices answers (all or part of) the question.")
    outcome: Outcome = Field("answer", description="answer | partial | refuse | smalltalk | note.")
    uncovered: str | None = Field(None, description="For a partial answer: the part the notices do not cover.")
    citations: list[Citation] = Field([], description="The clause that applies first, then honestly related ones.")
    offices: list[OfficeRef] = Field([], description="Responsible units of the first citation, as printed.")
    session_id: str = Field(description="Pass back to continue the conversation.")
    message_id: str = Field(description="Id for POST /v1/feedback.")
    city: str | None = Field(None, description="The citizen's 设区市 once known.")
    bureau: str | None = Field(None, description="That city's 人力资源和社会保障局.")
    hotline: str = Field(description="The 12333 hotline.")
    reason: str = Field(description="Why: evidence, followup, office, city, label, topic:…, region:…, low_relevance…")
    sources: list[SourceRef] = Field([], description="The notices the answer cites (or, for a refusal, all indexed).")
    ai_generated: bool = Field(False, description="True when the text was written by a language model (AI生成).")
    lang: Lang = Field("zh-Hans", description="Script/language of the reply: zh-Hans, zh-Hant or en.")


@dataclass
class Session:
    """The conversation state a caller stores between turns (small and JSON-friendly).

    ``history`` keeps the last few (normalised question, clause id) pairs so a repeated question gets a
    pointer instead of the same reply; ``notes_shown`` makes fixed notes appear once per conversation.
    """

    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    city: str | None = None
    last_measure: str | None = None
    last_question: str | None = None
    turns: int = 0
    lang: str | None = None
    notes_shown: bool = False
    history: list[tuple[str, str | None]] = field(default_factory=list)
    shown: list[int] = field(default_factory=list)  # sentences of the clause in play already quoted

    HISTORY = 6

    def remember(self, normalized: str, measure: str | None) -> None:
        self.history = [*self.history[-(self.HISTORY - 1) :], (normalized, measure)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "city": self.city,
            "last_measure": self.last_measure,
            "last_question": self.last_question,
            "turns": self.turns,
            "lang": self.lang,
            "notes_shown": self.notes_shown,
            "history": [list(h) for h in self.history],
            "shown": list(self.shown),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Session:
        history = []
        for h in raw.get("history") or []:
            if isinstance(h, list | tuple) and len(h) == 2 and isinstance(h[0], str):
                history.append((h[0], h[1] if isinstance(h[1], str) else None))
        return cls(
            id=str(raw.get("id") or secrets.token_urlsafe(18)),
            city=raw.get("city"),
            last_measure=raw.get("last_measure"),
            last_question=raw.get("last_question"),
            turns=int(raw.get("turns") or 0),
            lang=raw.get("lang"),
            notes_shown=bool(raw.get("notes_shown")),
            history=history[-cls.HISTORY :],
            shown=[int(i) for i in raw.get("shown") or [] if isinstance(i, int)],
        )


@dataclass(frozen=True)
class Turn:
    """One answered turn: the answer, and the session to pass to the next ``ask``."""

    answer: Answer
    session: Session
