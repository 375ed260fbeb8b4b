"""Evaluate answers against a JSONL file of questions (and dialogues) with gold measures.

Line formats (shared/eval)::

    {"id": "D001", "question": "...", "gold": [8], "kind": "official", "must_contain": ["..."]}
    {"id": "C01", "turns": [{"question": "...", "gold": [7], "must_contain": []}, ...]}

``gold: []`` means the notices do not cover the question: the right answer is a refusal.

Metrics (over answerable questions unless said otherwise):

* top-1: the first citation is a gold measure; recall@3: a gold measure among the first three citations;
* must-contain: every must_contain string appears in the answer text;
* out-of-scope refused: share of gold-[] questions answered with ``in_scope=false``;
* false refusal: share of answerable questions answered with ``in_scope=false``;
* office accuracy: for ``kind=office`` questions, every expected office is among the answer's offices,
  and for every answered question the offices are exactly the cited measure's units;
* dialogue turns: a turn is right when it refuses a gold-[] turn, or is in scope, cites a gold measure
  first and contains every must_contain string.

With an :class:`bot.llm.Explainer` (``policybot eval --llm``) every answered turn is also explained, exactly as
the service would; the figures above stay those of the deterministic decision, and :meth:`Report.llm_metrics`
adds the share of replies served by the LLM, the fallbacks by reason, the guard rejections by rule and
must-contain on the text actually served.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answer import Answer, PolicyBot, Session
from bot.errors import PolicyBotError
from bot.llm import Explainer, Explanation, ground_answer


@dataclass
class Case:
    id: str
    question: str
    gold: list[int]
    kind: str
    must_contain: list[str]
    dialogue: str | None = None


@dataclass
class Outcome:
    case: Case
    answer: Answer | None
    error: str | None = None
    explanation: Explanation | None = None  # with --llm, for answered turns

    @property
    def cited(self) -> list[int]:
        return [c.measure for c in self.answer.citations] if self.answer and self.answer.in_scope else []

    @property
    def refused(self) -> bool:
        return self.answer is None or not self.answer.in_scope

    @property
    def top1(self) -> bool:
        return bool(self.cited) and self.cited[0] in self.case.gold

    @property
    def recall3(self) -> bool:
        return any(m in self.case.gold for m in self.cited[:3])

    @property
    def contains(self) -> bool:
        text = self.answer.answer if self.answer else ""
        return all(s in text for s in self.case.must_contain)

    @property
    def correct(self) -> bool:
        if not self.case.gold:
            return self.refused
        return not self.refused and self.top1 and self.contains


@dataclass
class Report:
    outcomes: list[Outcome]
    units_complete: float = 0.0
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    def metrics(self, outcomes: list[Outcome] | None = None) -> dict[str, float]:
        outs = self.outcomes if outcomes is None else outcomes
        answerable = [o for o in outs if o.case.gold]
        oos = [o for o in outs if not o.case.gold]
        office = [o for o in answerable if o.case.kind == "office"]

        def share(xs: list[Outcome], pred: Any) -> float:
            return round(sum(1 for x in xs if pred(x)) / len(xs), 4) if xs else float("nan")

        out = {
            "n": float(len(outs)),
            "top1": share(answerable, lambda o: o.top1),
            "recall@3": share(answerable, lambda o: o.recall3),
            "must_contain": share([o for o in answerable if o.case.must_contain], lambda o: o.contains),
            "oos_refused": share(oos, lambda o: o.refused),
            "false_refusal": share(answerable, lambda o: o.refused),
            "office_accuracy": share(office, lambda o: o.contains and not o.refused),
        }
        if any(o.case.dialogue for o in outs):
            out["dialogue_turns"] = share([o for o in outs if o.case.dialogue], lambda o: o.correct)
        return out

    def llm_metrics(self) -> dict[str, Any]:
        """Replies the LLM was asked for, the share it served, fallbacks by reason, guard rejections by rule."""
        explained = [o for o in self.outcomes if o.explanation is not None]
        served = [o for o in explained if o.explanation is not None and o.explanation.ai_generated]
        fallbacks: Counter[str] = Counter()
        rules: Counter[str] = Counter()
        for o in explained:
            assert o.explanation is not None
            if o.explanation.fallback_reason:
                fallbacks[o.explanation.fallback_reason] += 1
            rules.update({v.rule for v in o.explanation.violations})
        with_must = [o for o in explained if o.case.gold and o.case.must_contain]

        def served_contains(o: Outcome) -> bool:
            assert o.explanation is not None
            return all(x in o.explanation.text for x in o.case.must_contain)

        return {
            "explained": len(explained),
            "served": len(served),
            "served_share": round(len(served) / len(explained), 4) if explained else float("nan"),
            "fallbacks": dict(fallbacks.most_common()),
            "guard_rejections": dict(rules.most_common()),
            "must_contain_served": round(sum(map(served_contains, with_must)) / len(with_must), 4)
            if with_must
            else float("nan"),
        }


def read_cases(path: Path) -> Iterator[list[Case]]:
    """Yield groups of cases: a single question, or the turns of one dialogue in order."""
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if "turns" in raw:
            yield [
                Case(
                    id=f"{raw['id']}/{k}",
                    question=t["question"],
                    gold=list(t.get("gold", [])),
                    kind=t.get("kind", "dialogue"),
                    must_contain=list(t.get("must_contain", [])),
                    dialogue=raw["id"],
                )
                for k, t in enumerate(raw["turns"], 1)
            ]
        else:
            yield [
                Case(
                    id=str(raw.get("id", lineno)),
                    question=raw["question"],
                    gold=list(raw.get("gold", [])),
                    kind=raw.get("kind", ""),
                    must_contain=list(raw.get("must_contain", [])),
                )
            ]


def run(bot: PolicyBot, path: Path, explainer: Explainer | None = None) -> Report:
    outcomes: list[Outcome] = []
    for group in read_cases(path):
        session: Session | None = None
        for case in group:
            try:
                turn = bot.ask(case.question, session=session)
            except PolicyBotError as exc:
                outcomes.append(Outcome(case, None, exc.code))
                continue
            session = turn.session
            a = turn.answer
            explanation = None
            if explainer is not None and a.in_scope and a.citations:
                explanation = explainer.explain(ground_answer(bot, bot.validate(case.question), a), a.answer)
            outcomes.append(Outcome(case, a, explanation=explanation))
    answered = [o for o in outcomes if o.answer and o.answer.in_scope and o.answer.citations]
    complete = 0
    for o in answered:
        assert o.answer is not None
        first = o.answer.citations[0]
        m = bot.index.measure(f"{first.doc}#{first.measure}")
        complete += [x.name for x in o.answer.offices] == list(m.units)
    report = Report(outcomes, units_complete=round(complete / len(answered), 4) if answered else float("nan"))
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        kinds[o.case.kind or "-"].append(o)
    report.by_kind = {k: report.metrics(v) for k, v in sorted(kinds.items())}
    return report
