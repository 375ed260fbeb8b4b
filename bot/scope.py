"""Scope: the one place that decides whether the notices answer a question - answer, partial or refuse.

A clause that shares words with a question does not necessarily answer it ("劳动合同期满终止要提前多久通知"
mentions 劳动合同, which a clause on 电子劳动合同 also does). The decision therefore weighs two things:

* **Content** - is the best clause about what the question is about? A small logistic model over general,
  corpus-relative features of the ranking (:func:`features`: where the best sentence's cosine stands among all
  clauses, BM25 relative to the field, coverage of the question's words, the rarest word the clause lacks,
  the margin to the runner-up, example similarity where an example bank exists, the conversation prior), and
  the principal directions of the *residual*: the question's vector minus its best evidence sentence's, what
  the question asks beyond what the clause says (a near miss is about the clause's topic but asks for more:
  "共享用工期间受了工伤，谁负责"). Its weights, the residual directions and the threshold are data
  (``index/calibration.json``), fitted by ``policybot calibrate`` with scikit-learn and cross-validated; no
  number here is fitted.
* **Intent** - does the clause provide the *kind* of information asked (an amount, a date, a phone number,
  a lookup of one's records…)? A strict intent (``index/intents.json``) is answered only when a sentence about
  what was asked prints it; otherwise the reply says which detail the clause leaves open, citing the clause
  only because the content model found it to be about the question.

Vetoes that are data too - out-of-scope topics and other regions (switched off at build for whatever an
indexed notice covers), instructions to the assistant with nothing genuine asked - come first. A compound
question is decided part by part (:func:`combine`): the parts a clause covers are answered, the rest is named
as not covered.

Example (no embedder needed: features in, decision out)::

    >>> cal = Calibration.load(Path("index/calibration.json"))
    >>> decide(ranking, cal).outcome
    <Outcome.ANSWER: 'answer'>
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError
from bot.ingest import CELL_GAP, Document, Measure, is_table_row
from bot.query import Intent, QueryAnalysis
from bot.retrieve import MeasureHit, Ranking

FEATURES = (
    "dense",  # best-sentence cosine of the clause (the embedder's own scale: the file is tied to its model id)
    "dense_gap",  # best-sentence cosine of the clause minus the median over all clauses
    "dense_z",  # the same as a z-score over all clauses
    "lexical_z",  # BM25 of the clause as a z-score over all clauses
    "coverage",  # share of the question's words (rarity-weighted) the clause contains
    "quote_coverage",  # ... that the quoted sentences contain
    "uncovered",  # rarity share of the question's most telling word the clause lacks
    "margin",  # fused score minus the runner-up's
    "intent_unmet",  # a non-strict intent (procedure, conditions…) that no sentence of the clause provides
    "latin",  # written in English: cross-language cosines run lower
    "continuing",  # a follow-up that stays on the clause in play
    "example_gap",  # closest in-scope example for the clause minus closest out-of-scope example (0 without bank)
    "absent",  # share of the question's words (rarity-weighted) that no indexed notice prints at all
    "absent_top",  # rarity share of its most telling word no notice prints (社保卡*余额*, 合同*期满*)
)


class Outcome(StrEnum):
    ANSWER = "answer"
    PARTIAL = "partial"
    REFUSE = "refuse"


class Reason(StrEnum):
    EVIDENCE = "evidence"  # the clause's evidence answers
    FOLLOWUP = "followup"  # a follow-up about the clause in play
    LABEL = "label"  # the citizen named the clause by its number
    PARTIAL = "partial"  # a compound question, answered for the part a clause covers
    LOW_RELEVANCE = "low_relevance"  # no clause is about the question
    TOPIC = "topic"  # a topic the notices do not cover (out-of-scope list)
    REGION = "region"  # another region than the notices serve
    UNSTATED = "unstated"  # the clause is about it, but does not print the detail asked
    MANIPULATION = "manipulation"  # nothing genuine asked besides instructions to the assistant
    NO_CONTENT = "no_content"  # nothing asked at all
    UNKNOWN_CLAUSE = "unknown_clause"  # a clause number no notice has


@dataclass(frozen=True)
class Projection:
    """A principal-component projection of the residual vector (question minus its best evidence sentence,
    :attr:`bot.retrieve.MeasureHit.residual`), fitted by ``policybot calibrate``: ``residual_0`` … are the
    residual's coordinates on the fitted directions. It reads what a question asks beyond what the clause
    says, so it is tied to the embedder it was fitted with (``model_id``)."""

    model_id: str
    mean: np.ndarray
    components: np.ndarray  # (k, dimension)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"residual_{i}" for i in range(self.components.shape[0]))

    def coordinates(self, residual: np.ndarray | None) -> dict[str, float] | None:
        if residual is None or residual.shape != self.mean.shape:
            return None
        return dict(zip(self.names, (float(v) for v in self.components @ (residual - self.mean)), strict=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "mean": [round(float(v), 6) for v in self.mean],
            "components": [[round(float(v), 6) for v in row] for row in self.components],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Projection:
        mean = np.asarray(raw["mean"], dtype=np.float32)
        components = np.asarray(raw["components"], dtype=np.float32)
        if components.ndim != 2 or components.shape[1] != mean.shape[0]:
            raise ValueError("projection components do not match its mean")
        return cls(str(raw["model_id"]), mean, components)


@dataclass(frozen=True)
class LogisticModel:
    """Standardised logistic regression: p = sigmoid(bias + sum(w_i * (x_i - mean_i) / scale_i)).

    With a :class:`Projection`, the residual's coordinates are inputs too; when they cannot be computed (no
    residual, or another embedder than the one fitted) they stand at their mean and so contribute nothing.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    projection: Projection | None = None

    def probability(self, x: Mapping[str, float], residual: np.ndarray | None = None) -> float:
        extra = self.projection.coordinates(residual) if self.projection is not None else None
        z = self.bias
        for name, m, s, w in zip(self.features, self.mean, self.scale, self.weights, strict=True):
            value = x[name] if name in x else extra.get(name, m) if extra is not None else m
            z += w * (float(value) - m) / (s or 1.0)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def for_model(self, model_id: str) -> LogisticModel:
        """This model as it applies to an embedder: its projection only for the one it was fitted with."""
        if self.projection is None or self.projection.model_id == model_id:
            return self
        return replace(self, projection=None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
        }
        if self.projection is not None:
            out["projection"] = self.projection.to_json()
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LogisticModel:
        names = tuple(raw["features"])
        vals = [tuple(float(v) for v in raw[k]) for k in ("mean", "scale", "weights")]
        if any(len(v) != len(names) for v in vals):
            raise ValueError("feature vectors of different lengths")
        projection = Projection.from_json(raw["projection"]) if raw.get("projection") else None
        if projection is not None and not set(projection.names) <= set(names):
            raise ValueError("projection coordinates missing from the features")
        return cls(names, vals[0], vals[1], vals[2], float(raw["bias"]), projection)


@dataclass(frozen=True)
class Calibration:
    """The fitted content model and its threshold (``index/calibration.json``, written by ``policybot
    calibrate``). ``model`` is used when the corpus has an example bank, ``model_without_examples`` when it has
    none; the thresholds are probabilities chosen from cross-validated predictions."""

    model: LogisticModel
    threshold: float
    model_without_examples: LogisticModel | None = None
    threshold_without_examples: float | None = None
    related_margin: float = 1.5
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            bare = raw.get("model_without_examples")
            cal = cls(
                model=LogisticModel.from_json(raw["model"]),
                threshold=float(raw["threshold"]),
                model_without_examples=LogisticModel.from_json(bare) if bare else None,
                threshold_without_examples=(
                    float(raw["threshold_without_examples"]) if raw.get("threshold_without_examples") else None
                ),
                related_margin=float(raw.get("related_margin", 1.5)),
                meta={k: v for k, v in raw.items() if k not in ("model", "model_without_examples")},
            )
        except FileNotFoundError as exc:
            raise ConfigError("缺少范围判定的校准文件，请运行 policybot calibrate", detail=str(path)) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError("范围判定的校准文件格式错误", detail=f"{path}: {exc}") from exc
        if not 0.0 < cal.threshold < 1.0:
            raise ConfigError("校准阈值必须在0和1之间", detail=f"{path}: threshold {cal.threshold}")
        return cal

    def probability(
        self, x: Mapping[str, float], *, examples: bool, residual: np.ndarray | None = None
    ) -> tuple[float, float]:
        """(probability that the clause is about the question, the threshold that applies)."""
        if not examples and self.model_without_examples is not None:
            return (
                self.model_without_examples.probability(x, residual),
                self.threshold_without_examples or self.threshold,
            )
        return self.model.probability(x, residual), self.threshold

    def for_model(self, model_id: str) -> Calibration:
        """This calibration for an embedder: residual projections apply only to the one they were fitted with."""
        bare = self.model_without_examples.for_model(model_id) if self.model_without_examples else None
        return replace(self, model=self.model.for_model(model_id), model_without_examples=bare)


@dataclass(frozen=True)
class Decision:
    """What the notices can say about a question. ``hits`` are the cited clauses, the one that applies first
    (for an unstated-detail refusal: the clause that is about the question); ``related`` are honestly related
    other clauses; ``uncovered`` names the parts of a compound question no clause covers."""

    outcome: Outcome
    reason: Reason
    query: QueryAnalysis
    hits: tuple[MeasureHit, ...] = ()
    related: tuple[MeasureHit, ...] = ()
    probability: float = 0.0
    detail: str | None = None  # the topic or region named by a veto
    intent: Intent | None = None  # the detail an unstated-detail refusal names
    uncovered: tuple[str, ...] = ()
    features: Mapping[str, float] = field(default_factory=dict, repr=False)

    @property
    def answered(self) -> bool:
        return self.outcome is not Outcome.REFUSE

    @property
    def top(self) -> MeasureHit | None:
        return self.hits[0] if self.hits else None

    @property
    def code(self) -> str:
        """The reason as the API reports it: evidence, topic:<topic>, region:<region>, unstated:<kind>…"""
        if self.reason is Reason.UNSTATED and self.intent is not None:
            return f"unstated:{self.intent.label}"
        if self.reason in (Reason.TOPIC, Reason.REGION) and self.detail:
            return f"{self.reason.value}:{self.detail}"
        return self.reason.value


def features(ranking: Ranking, position: int = 0) -> dict[str, float]:
    """The content model's inputs for one hit of a ranking (the first by default)."""
    hit = ranking.hits[position]
    q = ranking.query
    runner_up = ranking.hits[position + 1].score if len(ranking.hits) > position + 1 else hit.score - 3.0
    provided = q.intent is None or q.intent.strict or any(q.intent.provided_by(s) for s in hit.measure.sentences)
    return {
        "dense": hit.dense,
        "dense_gap": hit.dense - ranking.dense_median,
        "dense_z": (hit.dense - ranking.dense_mean) / ranking.dense_std if ranking.dense_std > 1e-9 else 0.0,
        "lexical_z": (hit.lexical - ranking.lexical_mean) / ranking.lexical_std if ranking.lexical_std > 1e-9 else 0.0,
        "coverage": hit.coverage,
        "quote_coverage": hit.quote_coverage,
        "uncovered": hit.uncovered,
        "margin": min(hit.score - runner_up, 3.0),
        "intent_unmet": 0.0 if provided else 1.0,
        "latin": 1.0 if q.latin else 0.0,
        "continuing": 1.0 if ranking.continuing and position == 0 else 0.0,
        "example_gap": (hit.example - ranking.example_out) if ranking.examples else 0.0,
        "absent": ranking.absent,
        "absent_top": ranking.absent_top,
        # raw signals, kept with every decision for calibration experiments (the model reads FEATURES only)
        "raw_dense": hit.dense,
        "raw_measure_cos": hit.measure_cos,
        "raw_lexical": hit.lexical,
        "raw_example_in": hit.example,
        "raw_example_out": ranking.example_out,
        "raw_tokens": float(len(q.topic_tokens or q.tokens)),
        "raw_dense_median": ranking.dense_median,
        "raw_runner_up_dense": ranking.hits[position + 1].dense if len(ranking.hits) > position + 1 else 0.0,
        "raw_intent_strict": 1.0 if q.intent is not None and q.intent.strict else 0.0,
        "raw_intent_any": 1.0 if q.intent is not None else 0.0,
        "raw_pinned": 1.0 if ranking.pinned else 0.0,
    }


def states(intent: Intent, measure: Measure, words: Sequence[str]) -> bool:
    """Whether the clause prints the detail asked for, in a sentence about what was asked.

    A figure elsewhere in the clause does not answer: "每个月要交多少钱" is not answered by a 60万元 reward.
    The sentence must share a word with ``words`` (the question's, and in a follow-up the previous one's);
    with no words beside the cue ("多少钱？") any such sentence answers. A contact line the clause prints
    ("（联系单位：…，联系电话：…）") is about the clause itself, so it answers whatever it provides.
    """
    if measure.contact and intent.provided_by(measure.contact):
        return True
    providing = [
        s
        for s, read in zip(measure.sentences, _with_headers(measure.sentences), strict=True)
        if intent.provided_by(read)
    ]
    if not providing:
        return False
    words = [w for w in words if not any(w in c for c in intent.cues)]
    if not words:
        return True
    return any(w in s for s in providing for w in words)


_HEADER_UNIT = re.compile(r"[（(]([^（()）]{1,8})[）)]\s*$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _read_row(header: str, row: str) -> str:
    """A row read cell by cell with its header: a figure in a column whose header prints a unit carries it
    ("补贴标准（元/人）" over "900" reads "补贴标准（元/人）：900元/人")."""
    names = CELL_GAP.split(header.strip())
    cells = CELL_GAP.split(row.strip())
    if len(names) != len(cells):
        return f"{header.strip()} {row}"
    out = []
    for name, cell in zip(names, cells, strict=True):
        unit = _HEADER_UNIT.search(name)
        out.append(f"{name}：{cell}{unit.group(1) if unit and _NUMBER.fullmatch(cell) else ''}")
    return "；".join(out)


def _with_headers(sentences: Sequence[str]) -> list[str]:
    """Each sentence as it reads: a row of a table printed as text ("3  养老护理员  五级/初级工  900") reads
    with the first row of its table, the header ("序号  职业（工种）  技能等级  补贴标准（元/人）"), which says
    what its figures are; any other sentence reads as itself.

    >>> _with_headers(["标准如下：", "序号  工种  补贴（元）", "1  电工  1600"])[2]
    '序号：1；工种：电工；补贴（元）：1600元'
    """
    out: list[str] = []
    header = ""
    for s in sentences:
        if not is_table_row(s):
            header = ""
            out.append(s)
        elif not header:
            header = s
            out.append(s)
        else:
            out.append(_read_row(header, s))
    return out


def _words(q: QueryAnalysis, context: QueryAnalysis | None) -> list[str]:
    out = [*q.tokens, *q.expansions]
    if context is not None:
        out += [*context.tokens, *context.expansions]
    return out


def decide(
    ranking: Ranking,
    calibration: Calibration,
    *,
    context: QueryAnalysis | None = None,
    known_clause: bool = True,
) -> Decision:
    """Decide one (part of a) question from its ranking. ``context`` is the previous question of the
    conversation (its words count when checking that a detail is stated); ``known_clause`` is False when the
    question names a clause number no notice has."""
    q = ranking.query
    if not known_clause:
        return Decision(Outcome.REFUSE, Reason.UNKNOWN_CLAUSE, q)
    if not q.genuine and not ranking.pinned:
        return Decision(Outcome.REFUSE, Reason.MANIPULATION if q.instructions else Reason.NO_CONTENT, q)
    top = ranking.top
    if top is None:
        return Decision(Outcome.REFUSE, Reason.LOW_RELEVANCE, q)
    # a region named in the question is vetoed unless a notice of another region is what answers
    # another region is refused unless the best clause is of a notice that serves it (that region's, or national)
    if q.other_region and not ranking.pinned and not ranking.foreign and not ranking.national:
        return Decision(Outcome.REFUSE, Reason.REGION, q, detail=q.other_region)
    if ranking.foreign_for_home and not ranking.pinned:
        # "苏州最低工资标准是多少" answered by a 湖北 clause would cite another province's rule for Jiangsu
        return Decision(Outcome.REFUSE, Reason.LOW_RELEVANCE, q)
    if q.out_of_scope_topic and not ranking.pinned:
        return Decision(Outcome.REFUSE, Reason.TOPIC, q, detail=q.out_of_scope_topic)
    x = features(ranking)
    p, threshold = calibration.probability(x, examples=ranking.examples, residual=top.residual)
    about = ranking.pinned or p >= threshold
    if not about:
        return Decision(Outcome.REFUSE, Reason.LOW_RELEVANCE, q, probability=p, features=x)
    meta_pin = ranking.pinned and q.clause_ref is None
    asked = q.strict_asks
    words = _words(q, context)
    unmet = None if meta_pin else _unmet(asked, top.measure, words)
    if unmet is not None:
        # about the clause's topic, but the clause leaves an asked detail open. A clause close behind that is
        # about the question too and does print all of them answers ("审核要多长时间" beside the clause on
        # applying); otherwise say so, citing the first
        alternative = None if ranking.pinned else _stating(ranking, calibration, asked, words)
        if alternative is None:
            sibling = None if ranking.pinned else _sibling(ranking, asked)
            if sibling is not None:
                return Decision(Outcome.ANSWER, Reason.EVIDENCE, q, (sibling,), (top,), probability=p, features=x)
            return Decision(Outcome.REFUSE, Reason.UNSTATED, q, (top,), probability=p, intent=unmet, features=x)
        i, p = alternative
        x = features(ranking, i)
        return Decision(Outcome.ANSWER, Reason.EVIDENCE, q, (ranking.hits[i],), (top,), probability=p, features=x)
    if ranking.pinned:
        reason = Reason.LABEL if q.clause_ref is not None else Reason.FOLLOWUP
    else:
        reason = Reason.FOLLOWUP if ranking.continuing else Reason.EVIDENCE
    related = _related(ranking, calibration)
    decision = Decision(Outcome.ANSWER, reason, q, (top,), related, probability=p, features=x)
    local = _local_alternative(ranking, related, asked, words)
    return decision if local is None else _lead_with(decision, local)


def _local_alternative(
    ranking: Ranking, related: Sequence[MeasureHit], asked: Sequence[Intent], words: Sequence[str]
) -> MeasureHit | None:
    """A city's notice answers first for the city the question names ("我没有苏州户口，能在苏州办就业登记吗"):
    a related clause of it that covers the question's words as well as the first and prints every detail asked
    leads, and the first (a provincial or another notice's clause) is still mentioned."""
    top = ranking.hits[0]
    if not ranking.local or top.measure.doc in ranking.local or ranking.pinned or ranking.continuing:
        return None
    for h in related:
        if h.measure.doc in ranking.local and h.coverage >= top.coverage and _unmet(asked, h.measure, words) is None:
            return h
    return None


def _unmet(asked: Sequence[Intent], measure: Measure, words: Sequence[str]) -> Intent | None:
    """The first asked detail the clause does not state, or None when it states them all."""
    return next((i for i in asked if not states(i, measure, words)), None)


def _close_and_about(ranking: Ranking, calibration: Calibration) -> Iterator[tuple[int, float]]:
    """Position and probability of each other clause close to the first (within the related margin) that the
    content model also finds to be about the question, in ranking order."""
    top = ranking.hits[0]
    for i, h in enumerate(ranking.hits[1:3], start=1):
        if h.score < top.score - calibration.related_margin:
            continue
        p, threshold = calibration.probability(features(ranking, i), examples=ranking.examples, residual=h.residual)
        if p >= threshold:
            yield i, p


def _stating(
    ranking: Ranking, calibration: Calibration, asked: Sequence[Intent], words: Sequence[str]
) -> tuple[int, float] | None:
    """The first clause close to the first and about the question that prints every detail asked; else None."""
    top = ranking.hits[0]
    for i, p in _close_and_about(ranking, calibration):
        h = ranking.hits[i]
        # it must be about the question's words at least as much as the first: a clause that prints a 网址
        # for something else ("人才需求清单在哪个网站") is not the answer
        if h.coverage >= top.coverage and _unmet(asked, h.measure, words) is None:
            return i, p
    return None


def _sibling(ranking: Ranking, asked: Sequence[Intent]) -> MeasureHit | None:
    """A clause of the first clause's notice that prints every detail asked and that the notice's name makes
    cover the question as well as the first does: in a 办事指南 ("扬州市就业见习补贴申领办事指南") "五、办理时限"
    over "自受理之日起15个工作日内办结" answers "见习补贴多久能办完". When the name adds nothing (a 技能提升补贴
    amount of a 细则 for "失业保险金每月领多少"), the clause's topic is its own, and it is not one."""
    top = ranking.hits[0]
    for h in ranking.siblings:
        # the notice's name gives the clause its topic, so any sentence of it printing the detail answers
        if h.coverage < h.topic_coverage >= top.topic_coverage and _unmet(asked, h.measure, ()) is None:
            return h
    return None


def _related(ranking: Ranking, calibration: Calibration) -> tuple[MeasureHit, ...]:
    """Other clauses close to the first in the ranking that the content model also finds to be about the
    question: honestly related, so worth naming."""
    return tuple(ranking.hits[i] for i, _ in _close_and_about(ranking, calibration))


def combine(whole: Decision, parts: Sequence[Decision]) -> Decision:
    """One decision for a compound question from the decisions of its parts.

    Answered parts are answered (their clauses cited in order, the first answered part's first); refused
    parts are named as not covered. When no part is answered the whole question's own decision stands; when
    every part is answered by the clause of the whole, the whole's decision stands.
    """
    answered = [d for d in parts if d.answered and d.top is not None]
    refused = [d for d in parts if not d.answered]
    if not answered:
        return whole
    hits: list[MeasureHit] = []
    for d in answered:
        for h in d.hits:
            if all(h.measure.id != k.measure.id for k in hits):
                hits.append(h)
    if not refused:
        if len(hits) == 1 and whole.answered and whole.top is not None and whole.top.measure.id == hits[0].measure.id:
            return whole
        first = answered[0]
        return replace(first, query=whole.query, hits=tuple(hits), related=())
    first = answered[0]
    return Decision(
        Outcome.PARTIAL,
        Reason.PARTIAL,
        whole.query,
        tuple(hits),
        (),
        probability=first.probability,
        uncovered=tuple(d.query.text for d in refused),
        features=first.features,
        detail=next((d.detail for d in refused if d.detail), None),
    )


def prefer_current(decision: Decision, is_current: Callable[[Measure], bool], calibration: Calibration) -> Decision:
    """An expired, superseded or retired notice is not cited as current: when an honestly related clause of a
    current notice is close behind, it comes first and the other is still mentioned."""
    if not decision.answered or decision.top is None or is_current(decision.top.measure):
        return decision
    for h in decision.related:
        if is_current(h.measure):
            return _lead_with(decision, h)
    return decision


def _lead_with(decision: Decision, h: MeasureHit) -> Decision:
    """The decision with related clause ``h`` first and the former first clause among the related ones."""
    assert decision.top is not None
    rest = tuple(x for x in decision.related if x is not h)
    return replace(decision, hits=(h, *decision.hits[1:]), related=(decision.top, *rest))


def prefer_general(
    decision: Decision, document_of: Callable[[Measure], Document], is_current: Callable[[Measure], bool]
) -> Decision:
    """A city's notice answers for that city. When the question names no place and a current provincial or
    national notice covers it too (a related clause: close behind and about the question by the content
    model), the notice that applies wherever the citizen is comes first and the city's is still mentioned.

    A question that names a place has already chosen its notices in the ranking, so it is left as it is.
    Measured with the seed beside thirteen test notices: the seed's held-out top-1 0.786 -> 0.806, the
    notices' own questions doc top-1 0.763 -> 0.773 (tests/test_transfer.py).
    """
    if not decision.answered or decision.top is None or not decision.related or decision.query.places:
        return decision
    top = decision.top
    if document_of(top.measure).region_level != "city":
        return decision
    for h in decision.related:
        # it must cover the question's words as well as the city's clause does: a provincial clause that shares
        # only the topic ("灵活就业社保补贴" for a question about 失业金 during it) does not cover it too
        if document_of(h.measure).region_level != "city" and is_current(h.measure) and h.coverage >= top.coverage:
            return _lead_with(decision, h)
    return decision
