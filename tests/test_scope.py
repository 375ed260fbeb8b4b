"""Table-driven tests of the scope decision: features in, decision out. No embedder, no index."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.config import REPO_ROOT
from bot.errors import ConfigError
from bot.ingest import Document, Measure
from bot.query import ClauseRef, Intent, QueryAnalysis
from bot.retrieve import Evidence, MeasureHit, Ranking
from bot.scope import (
    FEATURES,
    Calibration,
    LogisticModel,
    Outcome,
    Projection,
    Reason,
    combine,
    decide,
    features,
    prefer_general,
    states,
)

AMOUNT = Intent("amount", "金额", True, "具体金额", "the amount", ("多少钱",), re.compile(r"\d+\s*[万千百]?元"))
PROCEDURE = Intent("procedure", "办理程序", False, "办理流程", "the procedure", ("怎么申请",), re.compile("申请|平台"))


def measure(n: int, *sentences: str) -> Measure:
    return Measure(
        doc="notice",
        number=n,
        label=f"（{n}）",
        section="一、测试",
        text="".join(sentences),
        sentences=tuple(sentences),
        units=("就业处",),
        units_text="就业处",
        line=n,
    )


def query(text: str = "问题", **kw: object) -> QueryAnalysis:
    values: dict[str, object] = {
        "original": text,
        "normalized": text,
        "text": text,
        "lang": "zh-Hans",
        "script": "cjk",
        "expansions": (),
        "repairs": (),
        "tokens": ("稳岗返还",),
        "search_tokens": ("稳岗返还",),
        "topic_tokens": ("稳岗返还",),
    }
    values.update(kw)
    return QueryAnalysis(**values)  # type: ignore[arg-type]


def hit(
    m: Measure, *, score: float = 2.0, dense: float = 0.9, coverage: float = 1.0, example: float = 0.0
) -> MeasureHit:
    evidence = tuple(Evidence(i, s, 4.0 - i) for i, s in enumerate(m.sentences))
    return MeasureHit(m, score, dense, dense, 5.0, coverage, 1.0 - coverage, coverage, evidence, example)


def ranking(q: QueryAnalysis, *hits: MeasureHit, **kw: object) -> Ranking:
    values: dict[str, object] = {"dense_mean": 0.8, "dense_std": 0.05, "dense_median": 0.8, "lexical_mean": 1.0}
    values["lexical_std"] = 1.0
    values.update(kw)
    return Ranking(q, tuple(hits), **values)  # type: ignore[arg-type]


def coverage_model(threshold: float = 0.5) -> Calibration:
    """p = sigmoid(10 * (coverage - 0.5)): about the question when it covers at least half its words."""
    weights = tuple(10.0 if n == "coverage" else 0.0 for n in FEATURES)
    return Calibration(LogisticModel(FEATURES, (0.5,) * len(FEATURES), (1.0,) * len(FEATURES), weights, 0.0), threshold)


M7 = measure(7, "对符合条件的企业,落实稳岗返还政策。", "大力推广“免申即享”经办新模式。")
M16 = measure(16, "对纳入省级创业示范基地的园区,给予最高不超过60万元的奖补。")
M7_AMOUNT = measure(8, "稳岗返还按企业实际缴纳失业保险费的60%返还,最高不超过50万元。")


@pytest.mark.parametrize(
    ("q", "hits", "extra", "outcome", "reason"),
    [
        (query(), [hit(M7)], {}, Outcome.ANSWER, Reason.EVIDENCE),
        (query(), [hit(M7, coverage=0.2)], {}, Outcome.REFUSE, Reason.LOW_RELEVANCE),
        (query(out_of_scope_topic="养老金和退休待遇"), [hit(M7)], {}, Outcome.REFUSE, Reason.TOPIC),
        (query(other_region="浙江"), [hit(M7)], {}, Outcome.REFUSE, Reason.REGION),
        # ... unless the best clause is of a notice that serves it: that region's own, or a national one
        (query(other_region="安徽"), [hit(M7)], {"national": True}, Outcome.ANSWER, Reason.EVIDENCE),
        (query(other_region="湖北"), [hit(M7)], {"foreign": True}, Outcome.ANSWER, Reason.EVIDENCE),
        (query(tokens=(), instructions=True), [hit(M7)], {}, Outcome.REFUSE, Reason.MANIPULATION),
        (query(tokens=()), [hit(M7)], {}, Outcome.REFUSE, Reason.NO_CONTENT),
        (query(), [], {}, Outcome.REFUSE, Reason.LOW_RELEVANCE),
        # about the clause's topic, but the amount asked for is not printed there
        (query(intent=AMOUNT, tokens=("稳岗返还",)), [hit(M7)], {}, Outcome.REFUSE, Reason.UNSTATED),
        (query(intent=AMOUNT, tokens=("奖补",)), [hit(M16)], {}, Outcome.ANSWER, Reason.EVIDENCE),
        # ... unless a clause close behind, as much about the question, prints it: that one answers
        (
            query(intent=AMOUNT, tokens=("稳岗返还",)),
            [hit(M7), hit(M7_AMOUNT, score=1.5)],
            {},
            Outcome.ANSWER,
            Reason.EVIDENCE,
        ),
        # not when it is far behind, or covers the question's words less
        (query(intent=AMOUNT), [hit(M7), hit(M7_AMOUNT, score=-2.0)], {}, Outcome.REFUSE, Reason.UNSTATED),
        (
            query(intent=AMOUNT),
            [hit(M7), hit(M7_AMOUNT, score=1.5, coverage=0.6)],
            {},
            Outcome.REFUSE,
            Reason.UNSTATED,
        ),
        # a clause named by number is answered whatever its evidence
        (
            query(clause_ref=ClauseRef(7, "第7条")),
            [hit(M7, coverage=0.0)],
            {"pinned": True},
            Outcome.ANSWER,
            Reason.LABEL,
        ),
        # a follow-up that stays on the clause in play
        (query(), [hit(M7)], {"continuing": True}, Outcome.ANSWER, Reason.FOLLOWUP),
    ],
)
def test_decision_table(
    q: QueryAnalysis, hits: list[MeasureHit], extra: dict[str, object], outcome: Outcome, reason: Reason
) -> None:
    d = decide(ranking(q, *hits, **extra), coverage_model())
    assert (d.outcome, d.reason) == (outcome, reason)
    if reason is Reason.UNSTATED:
        assert d.top is not None and d.top.measure.number == 7 and d.code == "unstated:金额"
    if outcome is Outcome.REFUSE and reason is not Reason.UNSTATED:
        assert d.hits == ()  # a refusal cites a clause only when it is about the question


def test_a_clause_number_no_notice_has_is_refused() -> None:
    d = decide(ranking(query(clause_ref=ClauseRef(99, "第99条"))), coverage_model(), known_clause=False)
    assert d.reason is Reason.UNKNOWN_CLAUSE


def test_the_threshold_decides_at_the_boundary() -> None:
    r = ranking(query(), hit(M7, coverage=0.55))
    p = coverage_model().model.probability(features(r))
    assert decide(r, coverage_model(threshold=p - 1e-6)).outcome is Outcome.ANSWER
    assert decide(r, coverage_model(threshold=p + 1e-6)).outcome is Outcome.REFUSE


def test_features_are_relative_to_the_field_not_absolute_cosines() -> None:
    a = features(ranking(query(), hit(M7, dense=0.90), dense_mean=0.80, dense_median=0.80))
    b = features(ranking(query(), hit(M7, dense=0.60), dense_mean=0.50, dense_median=0.50))
    assert a["dense_gap"] == pytest.approx(b["dense_gap"]) and a["dense_z"] == pytest.approx(b["dense_z"])
    assert set(FEATURES) <= set(a)


def test_a_non_strict_intent_no_sentence_provides_is_a_feature() -> None:
    no_procedure = measure(9, "实行市场化薪酬,在绩效工资总量中单列。")
    unmet = features(ranking(query(intent=PROCEDURE), hit(no_procedure)))
    met = features(ranking(query(intent=PROCEDURE), hit(measure(5, "通过平台在线申请。"))))
    assert unmet["intent_unmet"] == 1.0 and met["intent_unmet"] == 0.0


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["奖补"], True),  # the figure sits in the sentence about the reward
        (["兑换券"], False),  # a 60万元 figure elsewhere does not answer a question about vouchers
        ([], True),  # "多少钱？" alone accepts any figure
    ],
)
def test_a_detail_must_be_printed_in_a_sentence_about_what_was_asked(words: list[str], expected: bool) -> None:
    m = measure(16, "推出就业积分兑换券服务。", "对纳入省级创业示范基地的园区,给予最高不超过60万元的奖补。")
    assert states(AMOUNT, m, words) is expected


def test_a_contact_line_the_clause_prints_states_its_phone_number() -> None:
    contact = Intent("contact", "联系方式", True, "联系方式", "contact", ("电话",), re.compile(r"电话|\d{5}"))
    bare = measure(5, "推行企业新型学徒制。")
    printed = replace(bare, contact="（联系单位：省就业服务管理中心，联系电话：025-83235627）")
    assert not states(contact, bare, ["学徒"]) and states(contact, printed, ["学徒"])


def test_a_compound_question_is_answered_for_the_part_a_clause_covers() -> None:
    whole = decide(ranking(query("稳岗返还怎么申请？另外养老金怎么算"), hit(M7)), coverage_model())
    covered = decide(ranking(query("稳岗返还怎么申请?"), hit(M7)), coverage_model())
    uncovered = decide(
        ranking(query("另外养老金怎么算", out_of_scope_topic="养老金和退休待遇"), hit(M7)), coverage_model()
    )
    d = combine(whole, [covered, uncovered])
    assert d.outcome is Outcome.PARTIAL and d.uncovered == ("另外养老金怎么算",)
    assert d.top is not None and d.top.measure.number == 7
    assert combine(whole, [covered, covered]).outcome is Outcome.ANSWER
    refused = decide(ranking(query(), hit(M7, coverage=0.1)), coverage_model())
    assert combine(refused, [uncovered, uncovered]) is refused


def test_two_parts_answered_by_two_clauses_cite_both() -> None:
    whole = decide(ranking(query(), hit(M7)), coverage_model())
    a = decide(ranking(query(), hit(M7)), coverage_model())
    b = decide(ranking(query(), hit(M16)), coverage_model())
    d = combine(whole, [a, b])
    assert d.outcome is Outcome.ANSWER and [h.measure.number for h in d.hits] == [7, 16]


def test_calibration_file_round_trips_and_impossible_values_are_refused(tmp_path: Path) -> None:
    cal = coverage_model()
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"model": cal.model.to_json(), "threshold": 0.5}), encoding="utf-8")
    loaded = Calibration.load(path)
    x = features(ranking(query(), hit(M7)))
    assert loaded.model.probability(x) == pytest.approx(cal.model.probability(x))
    path.write_text(json.dumps({"model": cal.model.to_json(), "threshold": 1.5}), encoding="utf-8")
    with pytest.raises(ConfigError):
        Calibration.load(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError):
        Calibration.load(path)
    with pytest.raises(ConfigError):
        Calibration.load(tmp_path / "missing.json")


def test_the_shipped_calibration_is_fitted_on_hashed_data_with_cross_validated_rates() -> None:
    raw = json.loads((REPO_ROOT / "index" / "calibration.json").read_text(encoding="utf-8"))
    assert raw["sets"] and all(len(h) == 64 for h in raw["sets"].values())
    assert raw["cv"]["cv_false_refusal"] <= raw["target_false_refusal"] + 1e-9
    assert raw["cv"]["leave_one_set_out"] and raw["cv"]["curve"]
    assert 0 < raw["threshold"] < 1
    names = tuple(raw["model"]["features"])
    assert names[: len(FEATURES)] == FEATURES
    projection = raw["model"].get("projection")
    extra = names[len(FEATURES) :]
    assert extra == (tuple(f"residual_{i}" for i in range(len(projection["components"]))) if projection else ())
    assert raw["cv"]["residual_components"] == len(extra)


def projected_model(weight: float) -> LogisticModel:
    """p = sigmoid(weight * residual_0), residual_0 the residual's first coordinate (on [1, 0, 0])."""
    projection = Projection("model-a", np.zeros(3, dtype=np.float32), np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
    names = (*FEATURES, "residual_0")
    return LogisticModel(
        names, (0.0,) * len(names), (1.0,) * len(names), (0.0,) * len(FEATURES) + (weight,), 0.0, projection
    )


@pytest.mark.parametrize(
    ("residual", "model_id", "expected"),
    [
        (np.array([-1.0, 0.0, 0.0], dtype=np.float32), "model-a", 1 / (1 + math.exp(4.0))),  # asks beyond
        (np.array([0.0, 5.0, 0.0], dtype=np.float32), "model-a", 0.5),  # off the fitted direction
        (None, "model-a", 0.5),  # no residual: the coordinate stands at its mean
        (np.zeros(4, dtype=np.float32), "model-a", 0.5),  # another dimension
        (np.array([-1.0, 0.0, 0.0], dtype=np.float32), "model-b", 0.5),  # another embedder
    ],
)
def test_the_residual_counts_only_for_the_embedder_it_was_fitted_with(
    residual: np.ndarray | None, model_id: str, expected: float
) -> None:
    model = projected_model(4.0).for_model(model_id)
    assert model.probability(features(ranking(query(), hit(M7))), residual) == pytest.approx(expected)


def test_a_projected_model_round_trips_through_json() -> None:
    model = projected_model(4.0)
    again = LogisticModel.from_json(json.loads(json.dumps(model.to_json())))
    r = np.array([0.3, 0.1, 0.0], dtype=np.float32)
    assert again.probability({}, r) == pytest.approx(model.probability({}, r))
    broken = model.to_json()
    broken["features"] = list(FEATURES)
    broken["mean"] = broken["scale"] = broken["weights"] = [0.0] * len(FEATURES)
    with pytest.raises(ValueError):
        LogisticModel.from_json(broken)


def test_an_example_vouches_only_where_an_example_bank_exists() -> None:
    with_bank = features(ranking(query(), hit(M7, example=0.95), examples=True, example_out=0.80))
    without = features(ranking(query(), replace(hit(M7), example=0.95), examples=False))
    assert with_bank["example_gap"] == pytest.approx(0.15) and without["example_gap"] == 0.0


def test_the_detail_asked_is_answered_by_the_clause_that_prints_it() -> None:
    d = decide(ranking(query(intent=AMOUNT), hit(M7), hit(M7_AMOUNT, score=1.5)), coverage_model())
    assert [h.measure.number for h in d.hits] == [8]
    assert [h.measure.number for h in d.related] == [7]  # the clause that is about it is still named


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        # a row of a text table reads with its header: the figure's unit is printed only there
        (("补贴标准如下：", "序号  工种  补贴标准（元/人）\n", "1  电工  1600\n", "2  焊工  1800"), True),
        # without a unit anywhere the figure is not an amount
        (("序号  工种  等级\n", "1  电工  4"), False),
        # a sentence that is not a row is read as itself
        (("电工1600",), False),
    ],
)
def test_a_table_row_reads_with_its_header(sentences: tuple[str, ...], expected: bool) -> None:
    m = measure(5, *sentences)
    assert states(AMOUNT, m, ["电工"]) is expected


def _document(slug: str, level: str) -> Document:
    return Document(slug, "", slug, "", "", slug, "", (), (), region_level=level)


@pytest.mark.parametrize(
    ("places", "related_level", "city_first"),
    [
        # no place named: the provincial clause that covers it too comes first, the city's is mentioned
        ((), "province", False),
        ((), "national", False),
        # another city's clause does not displace it
        ((), "city", True),
        # a place named has already chosen its notices
        (("苏州",), "province", True),
    ],
)
def test_a_city_notice_comes_first_only_for_its_city(
    places: tuple[str, ...], related_level: str, city_first: bool
) -> None:
    docs = {"city": _document("city", "city"), "other": _document("other", related_level)}
    city_clause, other = replace(M7, doc="city"), replace(M7_AMOUNT, doc="other")
    d = decide(ranking(query(places=places), hit(city_clause), hit(other, score=1.8)), coverage_model())
    assert d.top is not None and d.top.measure.doc == "city" and len(d.related) == 1
    d = prefer_general(d, lambda m: docs[m.doc], lambda m: True)
    assert d.top is not None and (d.top.measure.doc == "city") is city_first
    assert {h.measure.doc for h in (*d.hits, *d.related)} == {"city", "other"}
    # a notice that is no longer current never comes first
    d = prefer_general(
        decide(ranking(query(places=places), hit(city_clause), hit(other, score=1.8)), coverage_model()),
        lambda m: docs[m.doc],
        lambda m: m.doc == "city",
    )
    assert d.top is not None and d.top.measure.doc == "city"


def test_a_provincial_clause_that_covers_fewer_of_the_words_stays_behind_the_city_one() -> None:
    """ "领失业金时还能拿灵活就业社保补贴吗": a provincial clause on the subsidy alone (not on 失业金) is related,
    but it does not cover the question as the city's clause does, so the city's stays first."""
    docs = {"city": _document("city", "city"), "province": _document("province", "province")}
    city_clause, provincial = replace(M7, doc="city"), replace(M7_AMOUNT, doc="province")
    d = decide(ranking(query(), hit(city_clause), hit(provincial, score=1.8, coverage=0.7)), coverage_model())
    assert len(d.related) == 1
    d = prefer_general(d, lambda m: docs[m.doc], lambda m: True)
    assert d.top is not None and d.top.measure.doc == "city"
    assert [h.measure.doc for h in d.related] == ["province"]


@pytest.mark.parametrize(
    ("local", "coverage", "city_first"),
    [
        # the question names the city: its notice's related clause leads, the provincial one is mentioned
        (frozenset({"city"}), 1.0, True),
        # ... unless it covers fewer of the question's words
        (frozenset({"city"}), 0.7, False),
        # no city named: ranking order stands
        (frozenset(), 1.0, False),
    ],
)
def test_a_city_named_puts_its_notice_first(local: frozenset[str], coverage: float, city_first: bool) -> None:
    provincial, city_clause = replace(M7, doc="province"), replace(M7_AMOUNT, doc="city")
    r = ranking(query(places=("苏州",)), hit(provincial), hit(city_clause, score=1.8, coverage=coverage), local=local)
    d = decide(r, coverage_model())
    assert d.top is not None and (d.top.measure.doc == "city") is city_first
    assert {h.measure.doc for h in (*d.hits, *d.related)} == {"city", "province"}


@pytest.mark.parametrize(
    ("own_coverage", "topic_coverage", "answered"),
    [
        # names no topic itself, and the notice's name gives it the question's: it answers
        ((0.0, 0.6, True)),
        # the notice's name adds nothing to it: its topic is its own
        ((0.6, 0.6, False)),
        # it names part of the topic, the name the rest
        ((0.3, 0.6, True)),
        # read with the notice's name it still covers less than the first
        ((0.0, 0.4, False)),
    ],
)
def test_a_clause_that_names_no_topic_takes_its_notices(
    own_coverage: float, topic_coverage: float, answered: bool
) -> None:
    """A 办事指南: "三、补贴标准" is about the question but prints no time limit; "五、办理时限：自受理之日起15个
    工作日内办结" names no topic itself; the guide's title gives it the topic."""
    duration = Intent("duration", "期限", True, "具体期限", "the duration", ("多久",), re.compile(r"\d+个工作日"))
    standard = measure(3, "按照当地最低工资标准的60%给予见习补贴。")
    time_limit = measure(5, "自受理之日起15个工作日内办结。")
    q = query("见习补贴多久能办完", tokens=("见习", "补贴"), intent=duration)
    top = replace(hit(standard, coverage=0.6), topic_coverage=0.6)
    sibling = replace(hit(time_limit, coverage=own_coverage), topic_coverage=topic_coverage)
    d = decide(ranking(q, top, siblings=(sibling,)), coverage_model())
    assert (d.outcome is Outcome.ANSWER) is answered, d.reason
    if answered:
        assert d.top is not None and d.top.measure.number == 5
        assert [h.measure.number for h in d.related] == [3]
    else:
        assert d.reason is Reason.UNSTATED


def test_every_strict_detail_asked_must_be_stated() -> None:
    # "补多少钱，要几年？" asks an amount and a duration: a clause printing only the amount leaves one open
    duration = Intent("duration", "期限", True, "具体期限", "the duration", ("几年",), re.compile(r"\d+\s*年"))
    amount_only = measure(5, "给予每人1000元补贴。")
    both = measure(5, "给予每人1000元补贴，期限3年。")
    q = query("补贴补多少钱，要几年", tokens=("补贴",), intent=AMOUNT, also_asks=(duration,))
    unmet = decide(ranking(q, hit(amount_only)), coverage_model(threshold=0.0))
    assert unmet.reason is Reason.UNSTATED and unmet.intent is duration
    assert decide(ranking(q, hit(both)), coverage_model(threshold=0.0)).outcome is Outcome.ANSWER
