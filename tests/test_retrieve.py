"""Ranking: the clause that applies comes first (the decision is tests/test_scope.py's)."""

from __future__ import annotations

import pytest

from bot.answer import PolicyBot
from bot.retrieve import PolicyRetriever


@pytest.fixture(scope="module")
def retriever(bot: PolicyBot) -> PolicyRetriever:
    return bot.retriever


def rank(bot: PolicyBot, question: str, **kw: object):  # type: ignore[no-untyped-def]
    return bot.retriever.rank(bot.analyzer.analyze(question), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "measure"),
    [
        ("外卖骑手送餐摔伤了有保障吗", 14),
        ("數字技能培訓有補貼嗎", 8),
        ("Who handles the job stabilization refund?", 7),
        ("稳岗返还", 7),
        ("我们厂搞智能化改造，多出来的工人怎么安置？", 7),
        ("农村电商圆区能奖多少钱", 16),
        ("苏长卡是干嘛用的", 11),  # 长 reads zhang or chang: 苏畅卡
    ],
)
def test_everyday_questions_rank_their_clause_first(bot: PolicyBot, question: str, measure: int) -> None:
    r = rank(bot, question)
    assert r.top is not None and r.top.measure.number == measure


def test_sentence_evidence_prefers_the_sentence_with_the_figure(bot: PolicyBot) -> None:
    hit = rank(bot, "智改数转企业分流的职工，每人至少能得到几次岗位推荐？").top
    assert hit is not None
    quote = "".join(e.text for e in hit.quote())
    assert "3次岗位推荐" in quote
    assert all(e.text in hit.measure.text for e in hit.quote())


def test_a_follow_up_stays_on_topic_but_a_new_topic_wins(bot: PolicyBot) -> None:
    prev = bot.analyzer.analyze("数字经济卓越工程师知识更新培育项目是什么？")
    ctx = bot.retriever.query_vector(prev)
    first = bot.retriever.rank(prev).top
    assert first is not None and first.measure.number == 3
    follow = rank(bot, "每年选多少人？", context=prev, context_vector=ctx, prior={first.measure.id: 1.0})
    assert follow.continuing and follow.top is not None and follow.top.measure.number == 3
    switch = rank(bot, "农村电商园区有什么奖励？", context=prev, context_vector=ctx, prior={first.measure.id: 1.0})
    assert switch.top is not None and switch.top.measure.number == 16 and not switch.continuing


def test_a_pinned_clause_comes_first(bot: PolicyBot) -> None:
    mid = bot.index.measures[10].id
    r = rank(bot, "第十一条找哪个部门", pin=mid)
    assert r.pinned and r.top is not None and r.top.measure.id == mid


def test_coverage_names_the_most_telling_word_the_clause_lacks(bot: PolicyBot) -> None:
    r = rank(bot, "社保卡余额怎么查")
    assert r.top is not None
    assert r.top.uncovered > 0.2  # 余额 is nowhere in the notice
    full = rank(bot, "稳岗返还免申即享")
    assert full.top is not None and full.top.uncovered == 0.0 and full.top.coverage == pytest.approx(1.0)


def test_absent_words_are_measured_against_every_notice_not_one_clause(bot: PolicyBot) -> None:
    """余额 is printed by no notice: the question's share of such words is a corpus-relative feature."""
    out = rank(bot, "社保卡余额怎么查")
    assert out.absent > 0.2 and out.absent_top > 0.2
    inside = rank(bot, "稳岗返还免申即享")
    assert inside.absent == 0.0 and inside.absent_top == 0.0


def test_the_field_statistics_are_over_all_clauses(bot: PolicyBot) -> None:
    r = rank(bot, "稳岗返还")
    assert r.top is not None
    assert r.dense_std > 0 and r.top.dense > r.dense_median >= -1.0
