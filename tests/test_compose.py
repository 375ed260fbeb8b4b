"""The composer is pure: decisions and a session in, reply text and typed fields out (no index needed)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from bot.compose import ComposeContext, Composer, Mode, Templates, lead_of
from bot.config import REPO_ROOT
from bot.ingest import Document, Measure, Section
from bot.models import Session
from bot.offices import OfficeDirectory
from bot.query import Intent, QueryAnalysis
from bot.retrieve import Evidence, MeasureHit
from bot.scope import Decision, Outcome, Reason

COUNT = Intent("count", "数量", True, "具体数量", "the number", ("多少人",), re.compile(r"\d+\s*名"))
SENTENCE = "会同工信等部门建立继续教育基地,实施知识更新培育项目,每年遴选培育1000名数字经济领域优秀工程技术人才。"
UNITS = ("专技处", "职业能力处", "就业处", "人才开发处", "鉴定中心", "信息中心", "各设区市人力资源社会保障局")


def _measure(units: tuple[str, ...] = ("专技处", "各设区市人力资源社会保障局")) -> Measure:
    return Measure(
        "notice",
        3,
        "（三）",
        "二、测试",
        "建立职称制度。" + SENTENCE,
        ("建立职称制度。", SENTENCE),
        units,
        "、".join(units),
        9,
    )


def _doc(m: Measure) -> Document:
    return Document(
        "notice",
        "notice.txt",
        "关于印发若干措施的通知",
        "江苏省人力资源和社会保障厅",
        "2022年5月23日",
        "若干措施",
        "0" * 64,
        (Section(2, "二、测试", "测试"),),
        (m,),
    )


def _query(text: str, *, lang: str = "zh-Hans", intent: Intent | None = None, office: bool = False) -> QueryAnalysis:
    return QueryAnalysis(
        text,
        text,
        text,
        lang,
        "latin" if lang == "en" else "cjk",
        (),
        (),
        ("遴选",),
        ("遴选",),
        ("遴选",),
        intent=intent,
        wants_figure=intent is not None,
        asks_for_office=office,
    )


def _decision(q: QueryAnalysis, m: Measure, **kw: object) -> Decision:
    ev = (Evidence(1, SENTENCE, 4.0), Evidence(0, "建立职称制度。", 3.0))
    hit = MeasureHit(m, 2.0, 0.9, 0.9, 5.0, 1.0, 0.0, 1.0, ev)
    values: dict[str, object] = {"outcome": Outcome.ANSWER, "reason": Reason.EVIDENCE, "query": q, "hits": (hit,)}
    values.update(kw)
    return Decision(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def composer() -> Composer:
    import opencc

    m = _measure()
    ctx = ComposeContext(
        OfficeDirectory.load(REPO_ROOT / "index" / "offices.json"),
        Templates(REPO_ROOT / "prompts" / "answer.toml"),
        {"notice": _doc(m)},
        date(2026, 12, 1),
        opencc.OpenCC("s2t").convert,
    )
    return Composer(ctx)


def test_the_lead_is_the_verbatim_piece_that_prints_the_figure() -> None:
    d = _decision(_query("每年选多少人", intent=COUNT), _measure())
    assert lead_of(d.hits[0], d) == "每年遴选培育1000名数字经济领域优秀工程技术人才。"


def test_a_premise_piece_leads_on_to_what_follows_from_it() -> None:
    """ "…期间，" and "…的，" only set the condition: the lead goes on to the piece that says what follows."""
    sentence = "失业人员在领取失业保险金期间死亡的，向其遗属发给一次性丧葬补助金和抚恤金。"
    m = replace(_measure(), text=sentence, sentences=(sentence,))
    q = replace(_query("领取失业保险金期间死亡"), tokens=("领取", "失业保险金", "期间", "死亡"))
    hit = MeasureHit(m, 2.0, 0.9, 0.9, 5.0, 1.0, 0.0, 1.0, (Evidence(0, sentence, 4.0),))
    d = _decision(q, m, hits=(hit,))
    endings = Templates(REPO_ROOT / "prompts" / "answer.toml").premise_endings
    assert lead_of(hit, d, 20) == "失业人员在领取失业保险金期间死亡的。"  # the piece alone: no endings given
    assert lead_of(hit, d, 20, endings) == sentence


def test_a_questions_own_sentence_never_leads_and_times_and_brackets_stay_whole() -> None:
    """A 政策问答's "问：…？" is what was asked, not what the notice states; "9:00" and a bracket are not pieces."""
    asked = "问：有问题打哪个电话？"
    said = "答：可拨打就业服务中心咨询电话025-83278215（工作日上午9:00—12:00，下午13:30—17:30），也可以到窗口咨询。"
    m = replace(_measure(), text=asked + said, sentences=(asked, said))
    q = replace(_query("咨询电话"), tokens=("咨询", "电话"))
    hit = MeasureHit(m, 2.0, 0.9, 0.9, 5.0, 1.0, 0.0, 1.0, (Evidence(0, asked, 4.2), Evidence(1, said, 4.0)))
    lead = lead_of(hit, _decision(q, m, hits=(hit,)), 20)
    assert lead == "可拨打就业服务中心咨询电话025-83278215（工作日上午9:00—12:00，下午13:30—17:30）。"


def test_a_first_answer_leads_and_fixed_notes_appear_once(composer: Composer) -> None:
    d = _decision(_query("每年选多少人", intent=COUNT), _measure())
    first = composer.answer(d, Session())
    assert first.lead == "文件写明：每年遴选培育1000名数字经济领域优秀工程技术人才。"
    assert first.answer.startswith(first.lead) and "来源：" in first.answer
    assert "全称待核实" not in first.answer  # directory facts only when asked which office
    again = composer.answer(d, Session(notes_shown=True))
    assert "来源：" not in again.answer and len(again.answer) < len(first.answer)


def test_a_long_unit_list_is_summarised_in_the_text_but_complete_in_the_field(composer: Composer) -> None:
    m = _measure(UNITS)
    ctx = composer.ctx
    wide = Composer(ComposeContext(ctx.directory, ctx.templates, {"notice": _doc(m)}, ctx.today))
    a = wide.answer(_decision(_query("遴选"), m), Session())
    assert [o.name for o in a.offices] == list(UNITS)
    assert "等7个单位" in a.answer and "信息中心" not in a.answer
    office = wide.answer(_decision(_query("找哪个部门", office=True), m), Session(), Mode.OFFICE)
    assert all(u in office.answer for u in UNITS) and "全称待核实" in office.answer


def test_city_and_office_follow_ups_say_only_what_was_asked(composer: Composer) -> None:
    d = _decision(_query("遴选"), _measure())
    first = composer.answer(d, Session())
    city = composer.answer(d, Session(city="苏州", notes_shown=True), Mode.CITY)
    assert "苏州市人力资源和社会保障局" in city.answer and len(city.answer) < len(first.answer) / 2
    office = composer.answer(d, Session(notes_shown=True), Mode.OFFICE)
    assert office.lead.startswith("这项政策的责任单位是") and "1000名" not in office.answer


def test_english_and_traditional_replies(composer: Composer) -> None:
    d = _decision(_query("how many engineers", lang="en", intent=COUNT), _measure())
    en = composer.answer(d, Session())
    assert en.lang == "en" and en.lead.startswith("The notice says:") and "1000名" in en.lead
    hant = composer.answer(_decision(_query("遴选", lang="zh-Hant"), _measure()), Session())
    assert "數字經濟" in hant.answer and hant.citations[0].quote.find("数字经济") >= 0


def test_a_partial_answer_names_the_uncovered_part(composer: Composer) -> None:
    d = _decision(
        _query("遴选"), _measure(), outcome=Outcome.PARTIAL, reason=Reason.PARTIAL, uncovered=("另外养老金怎么算",)
    )
    a = composer.answer(d, Session(city="南京"))
    assert a.outcome == "partial" and a.uncovered == "另外养老金怎么算"
    assert "“另外养老金怎么算”" in a.answer and "南京市人力资源和社会保障局" in a.answer


def test_refusals_cite_a_clause_only_for_an_unstated_detail(composer: Composer) -> None:
    q = _query("遴选", intent=COUNT)
    low = composer.refusal(Decision(Outcome.REFUSE, Reason.LOW_RELEVANCE, q), Session())
    assert not low.in_scope and low.citations == [] and "12333" in low.answer
    d = _decision(q, _measure(), outcome=Outcome.REFUSE, reason=Reason.UNSTATED, intent=COUNT)
    unstated = composer.refusal(d, Session())
    assert unstated.citations[0].label == "（三）" and "具体数量" in unstated.answer


@pytest.mark.parametrize("act", ["greeting", "thanks", "bye", "human", "identity", "insult", "filler", "script"])
def test_small_talk_replies_are_friendly_and_never_apologise_for_missing_clauses(composer: Composer, act: str) -> None:
    a = composer.smalltalk(act, Session(), "zh-Hans")
    assert a.outcome == "smalltalk" and "没有找到" not in a.answer and len(a.answer) < 200
