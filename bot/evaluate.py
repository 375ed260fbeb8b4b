"""Evaluate answers against a JSONL file of questions (and dialogues) with gold clauses.

Line formats (shared/eval)::

    {"id": "D001", "question": "...", "gold": [8], "kind": "official", "must_contain": ["..."]}
    {"id": "X01", "question": "...", "gold": [{"doc": "suzhou-…", "measure": 3}], ...}
    {"id": "X02", "question": "...", "gold": [{"doc": "suzhou-…", "label": "3.", "contains": "不超过3000元"}], ...}
    {"id": "C01", "turns": [{"question": "...", "gold": [7], "must_contain": []}, ...]}

``gold: []`` means the notices do not cover the question: the right answer is a refusal. A number names a
clause of the default document (``--doc``, else the index's only or first notice); an object names the
document and the clause by number, or by a verbatim piece of its text (``contains``, with ``label`` to tell
apart clauses that share a piece).

Metrics (over answerable questions unless said otherwise):

* top-1: the first citation is a gold clause; doc top-1: it is in a gold document; recall@3;
* must-contain: every must_contain string appears in the answer text (in the script the reply is in);
* out-of-scope refused: share of gold-[] questions answered with ``in_scope=false``;
* false refusal: share of answerable questions answered with ``in_scope=false``;
* office accuracy: for ``kind=office`` questions, every expected office is in the answer;
* dialogue turns: a turn is right when it refuses a gold-[] turn, or is in scope, cites a gold clause first
  and contains every must_contain string;
* form (phone-sized replies): median and 90th-percentile length of answered first replies, the printed figure
  within the first 150 characters (numeric questions), English replies to English questions, small talk
  without an apology, follow-ups that repeat more than half of the previous reply.

With an :class:`bot.llm.Explainer` (``policybot eval --llm``) every answered turn is also explained, exactly as
the service would; the figures above stay those of the deterministic decision, and :meth:`Report.llm_metrics`
adds the share of replies served by the LLM, the fallbacks by reason, the guard rejections by rule and
must-contain on the text actually served.
"""

from __future__ import annotations

import difflib
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answer import PolicyBot
from bot.errors import ConfigError, PolicyBotError
from bot.llm import Explainer, Explanation, explainable, ground_answer
from bot.models import Answer, Session

APOLOGIES = ("抱歉", "没有找到", "Sorry", "sorry")


@dataclass
class Case:
    id: str
    question: str
    gold: list[Any]
    kind: str
    must_contain: list[str]
    dialogue: str | None = None
    figure: str | None = None
    act: str | None = None
    turn: int = 1


@dataclass
class Outcome:
    case: Case
    answer: Answer | None
    error: str | None = None
    gold_ids: frozenset[str] = frozenset()
    previous: str | None = None  # the previous reply of the dialogue
    to_traditional: Callable[[str], str] | None = field(default=None, repr=False)
    explanation: Explanation | None = None  # with --llm, for answered turns

    @property
    def cited_ids(self) -> list[str]:
        if not self.answer or not self.answer.in_scope:
            return []
        return [f"{c.doc}#{c.measure}" for c in self.answer.citations]

    @property
    def cited(self) -> list[int]:
        return [c.measure for c in self.answer.citations] if self.answer and self.answer.in_scope else []

    @property
    def refused(self) -> bool:
        return self.answer is None or not self.answer.in_scope

    @property
    def top1(self) -> bool:
        return bool(self.cited_ids) and self.cited_ids[0] in self.gold_ids

    @property
    def doc_top1(self) -> bool:
        return bool(self.cited_ids) and self.cited_ids[0].split("#")[0] in {g.split("#")[0] for g in self.gold_ids}

    @property
    def recall3(self) -> bool:
        return any(m in self.gold_ids for m in self.cited_ids[:3])

    @property
    def contains(self) -> bool:
        text = self.answer.answer if self.answer else ""
        convert = self.to_traditional if self.answer and self.answer.lang == "zh-Hant" else None
        return all(s in text or (convert is not None and convert(s) in text) for s in self.case.must_contain)

    @property
    def correct(self) -> bool:
        if not self.case.gold:
            return self.refused
        return not self.refused and self.top1 and self.contains

    @property
    def repeats_previous(self) -> bool:
        """More than half of the previous reply comes back in this one."""
        if not self.answer or not self.previous:
            return False
        m = difflib.SequenceMatcher(None, self.previous, self.answer.answer, autojunk=False)
        same = sum(b.size for b in m.get_matching_blocks() if b.size >= 8)
        return same > len(self.previous) / 2


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
            "doc_top1": share(answerable, lambda o: o.doc_top1),
            "recall@3": share(answerable, lambda o: o.recall3),
            "must_contain": share([o for o in answerable if o.case.must_contain], lambda o: o.contains),
            "oos_refused": share(oos, lambda o: o.refused),
            "false_refusal": share(answerable, lambda o: o.refused),
            "office_accuracy": share(office, lambda o: o.contains and not o.refused),
        }
        if any(o.case.dialogue for o in outs):
            out["dialogue_turns"] = share([o for o in outs if o.case.dialogue], lambda o: o.correct)
        return out

    def form(self, outcomes: list[Outcome] | None = None) -> dict[str, float]:
        """Phone-form figures (see the module docstring)."""
        outs = self.outcomes if outcomes is None else outcomes
        first = [o for o in outs if o.answer and o.answer.in_scope and o.case.turn == 1]
        lengths = sorted(len(o.answer.answer) for o in first if o.answer)

        def share(xs: list[Outcome], pred: Any) -> float:
            return round(sum(1 for x in xs if pred(x)) / len(xs), 4) if xs else float("nan")

        numeric = [
            o for o in outs if o.case.gold and (o.case.figure or (o.case.kind == "numeric" and o.case.must_contain))
        ]
        english = [o for o in outs if o.case.kind == "english"]
        small = [o for o in outs if o.case.kind == "smalltalk" or o.case.act in ("smalltalk", "thanks")]
        follow = [o for o in outs if o.case.dialogue and o.previous]
        return {
            "answer_chars_median": float(statistics.median(lengths)) if lengths else float("nan"),
            "answer_chars_p90": float(lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))])
            if lengths
            else float("nan"),
            "figure_in_150": share(
                numeric,
                lambda o: bool(o.answer) and (o.case.figure or o.case.must_contain[0]) in o.answer.answer[:150],
            ),
            "english_out": share(english, lambda o: bool(o.answer) and o.answer.lang == "en"),
            "smalltalk_no_apology": share(
                small, lambda o: bool(o.answer) and not any(a in o.answer.answer for a in APOLOGIES)
            ),
            "followup_repeats": share(follow, lambda o: o.repeats_previous),
        }

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
                    figure=t.get("figure"),
                    act=t.get("act"),
                    turn=k,
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
                    figure=raw.get("figure"),
                    act=raw.get("act"),
                )
            ]


def resolve_gold(bot: PolicyBot, gold: list[Any], default_doc: str | None) -> frozenset[str]:
    """Clause ids for gold labels: numbers of the default document, clause ids ("slug#7"), or objects naming
    doc and clause ({"doc": slug, "measure": 7} or {"doc": slug, "contains": "…", "label": "（七）"})."""
    index = bot.index
    doc = default_doc or (index.documents[0].slug if index.documents else "")
    out: set[str] = set()
    for g in gold:
        if isinstance(g, int):
            out.add(f"{doc}#{g}")
            continue
        if isinstance(g, str):
            out.add(g if g in index.measure_row else f"{g.partition('#')[0]}#?")
            continue
        if not isinstance(g, dict):
            raise ConfigError("评测集的 gold 格式错误", detail=f"not a clause number, id or object: {g!r}")
        slug = g.get("doc", doc)
        d = index.doc_by_slug.get(slug)
        if d is None:
            out.add(f"{slug}#?")
            continue
        if "measure" in g:
            out.add(f"{slug}#{int(g['measure'])}")
            continue
        candidates = [m for m in d.measures if g.get("contains", "") in m.text]
        if g.get("label") and len(candidates) > 1:
            candidates = [m for m in candidates if m.label == g["label"]] or candidates
        if not candidates and g.get("label"):
            candidates = [m for m in d.measures if m.label == g["label"]]
        out.update(m.id for m in candidates[:1])
        if not candidates:
            out.add(f"{slug}#?")
    return frozenset(out)


def run(bot: PolicyBot, path: Path, explainer: Explainer | None = None, *, default_doc: str | None = None) -> Report:
    outcomes: list[Outcome] = []
    convert = bot.index.analyzer.to_traditional
    for group in read_cases(path):
        session: Session | None = None
        previous: str | None = None
        for case in group:
            gold = resolve_gold(bot, case.gold, default_doc)
            try:
                turn = bot.ask(case.question, session=session)
            except PolicyBotError as exc:
                outcomes.append(Outcome(case, None, exc.code, gold, previous, convert))
                continue
            session = turn.session
            a = turn.answer
            explanation = None
            if explainer is not None and explainable(a):
                explanation = explainer.explain(ground_answer(bot, bot.validate(case.question), a), a.answer)
            outcomes.append(Outcome(case, a, None, gold, previous, convert, explanation))
            previous = a.answer
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
