"""Transfer to notices of other shapes: the seed plus the fifteen test notices of ``tests/data/notices`` in one
real index (real embedder, real FAISS), each notice's own questions scored against it.

No lexicon entry, example or calibration row was written for these notices, so these floors say how the
mechanisms fitted on the seed carry over (the figures are in the README; the issue's target of 0.90 top-1 is
not met yet). A floor is the figure measured when it was set, minus one question's worth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluate import run

from .conftest import NOTICE, make_settings

NOTICES = Path(__file__).resolve().parent / "data" / "notices"
SEED = "jiangsu-hrss-digital-economy-measures-2022"

# (notice, doc top-1 floor, false-refusal ceiling), measured 2026-12-03 with all sixteen notices in one index
# (the seed and fifteen test notices); a floor is the figure measured minus one question's worth.
# Adding 淮安 and the provincial 问答 (2026-12-03) took questions that name no city from the city notices:
# a provincial clause that only shares the topic was put first ("prefer_general"); it now has to cover the
# question's words as well as the city's clause does (常州 0.50 -> 0.64, 南京 0.56 -> 0.61, 南通 0.32 -> 0.36,
# 2024 0.76 -> 0.72), and a question naming a city took the provincial 问答's clause before the city's own
# (a related clause of the named city's notice that covers the question as well now leads: 苏州 0.75 -> 0.83).
# With fourteen notices (2026-12-02) the figures were: hubei 0.80, gov plan 0.92, 2019 0.74, 2024 0.80,
# ten-dept 0.96, title guide 0.89, MOHRSS 0.80, 南京 0.78, 苏州 0.83, 常州 0.64,
# 解读 0.86, 南通 0.41, 无锡 0.73. 常州, 南京, 南通 and 苏州 are city notices: a question that does not name the
# city is answered first by a provincial or national clause that covers it as well (the city's is mentioned),
# so their own sets score lower by design. 南通 is low also because its items never name their topic.
# First contact of the two newest (written before any tuning, 29c18c3): 淮安 0.65 / 0.15, 问答 0.85 / 0.05;
# 淮安's parser fix (a heading printed as one sentence) was made after seeing its misses.
FLOORS = [
    ("cz-skills-training-rules-2025", 0.59, 0.10),  # 0.64 / 0.04
    ("ha-entrepreneurship-guarantee-loan-2024", 0.80, 0.10),  # 0.85 / 0.05
    ("hubei-unemployment-insurance-measures-2021", 0.76, 0.08),  # 0.80 / 0.04
    ("js-gov-digital-talent-plan-2022", 0.88, 0.08),  # 0.92 / 0.04
    ("js-older-worker-reemployment-faq-2025", 0.80, 0.10),  # 0.85 / 0.05
    ("js-pension-adjustment-interpretation-2025", 0.76, 0.20),  # 0.81 / 0.14
    ("js-skills-subsidy-2019", 0.63, 0.11),  # 0.68 / 0.05
    ("js-skills-subsidy-2024", 0.68, 0.12),  # 0.72 / 0.08
    ("js-ten-dept-youth-employment-2023", 0.84, 0.04),  # 0.88 / 0.00
    ("js-title-evaluation-guide-2025", 0.77, 0.17),  # 0.83 / 0.11
    ("mohrss-stabilize-jobs-2022", 0.76, 0.08),  # 0.80 / 0.04
    ("nj-flexible-insurance-qa-2025", 0.55, 0.23),  # 0.61 / 0.17
    ("nt-job-stabilization-refund-announcement-2025", 0.31, 0.19),  # 0.36 / 0.14
    ("suzhou-flexible-employment-2024", 0.79, 0.09),  # 0.83 / 0.04
    ("wx-internship-measures-2021", 0.63, 0.19),  # 0.68 / 0.14
]


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory, embeddings):  # type: ignore[no-untyped-def]
    from bot.answer import PolicyBot
    from bot.index import ensure_index

    settings = make_settings(tmp_path_factory.mktemp("many"), [NOTICE, *sorted(NOTICES.glob("*.txt"))])
    index = ensure_index(settings, embeddings)
    assert len(index.documents) == 1 + len(list(NOTICES.glob("*.txt")))
    return PolicyBot.with_index(settings, index, embeddings)


@pytest.mark.parametrize(("notice", "doc_top1", "false_refusal"), FLOORS)
def test_each_notice_answers_its_own_questions(many, notice: str, doc_top1: float, false_refusal: float) -> None:  # type: ignore[no-untyped-def]
    m = run(many, NOTICES / f"{notice}.questions.jsonl").metrics()
    assert m["doc_top1"] >= doc_top1, m
    assert m["false_refusal"] <= false_refusal, m


def test_the_seed_still_answers_beside_the_other_notices(many) -> None:  # type: ignore[no-untyped-def]
    """With fifteen more notices the seed's own questions mostly stay on the seed (0.88 measured); some of its
    out-of-scope questions (unemployment benefit) are now answered by the Hubei notice, by design."""
    dev = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"
    path = dev if dev.exists() else Path(__file__).resolve().parent / "data" / "calibration.jsonl"
    m = run(many, path, default_doc=SEED).metrics()
    assert m["doc_top1"] >= 0.85, m
    assert m["false_refusal"] <= 0.05, m


@pytest.mark.parametrize(
    ("question", "first_doc"),
    [
        # the 2024 notice repealed the 2019 one: it answers first unless the old one is named
        ("紧缺型职业工种的培训补贴上浮多少？", "js-skills-subsidy-2024"),
        ("按照2019年那个通知，紧缺型工种补贴上浮多少？", "js-skills-subsidy-2019"),
        ("苏人社发〔2019〕117号里初级工补贴多少钱", "js-skills-subsidy-2019"),
        ("Under the 2019 rules, how many times a year can I get the training subsidy?", "js-skills-subsidy-2019"),
        # whether a named notice is still valid: the article of its successor that repeals it answers
        ("苏人社发〔2019〕117号现在还有效吗？", "js-skills-subsidy-2024"),
    ],
)
def test_a_named_notice_answers_first_and_a_superseded_one_only_when_named(many, question: str, first_doc: str) -> None:  # type: ignore[no-untyped-def]
    from bot.models import Session

    decision = many.reply(many.validate(question), Session()).decision
    assert decision.answered and decision.top is not None, decision.code
    assert decision.top.measure.doc == first_doc, [h.measure.id for h in decision.hits]


@pytest.mark.parametrize("question", ["在湖北领失业金期间医保要自己交吗？", "我在武汉，领失业金期间医保要自己交吗？"])
def test_a_region_word_chooses_its_notice_not_the_clauses_that_print_it(many, question: str) -> None:  # type: ignore[no-untyped-def]
    """湖北 (or a city in it) selects the Hubei notice; inside it, the clause on medical insurance during the
    benefit answers, not the two that merely print 湖北 (the online channels, the entry into force)."""
    from bot.models import Session

    decision = many.reply(many.validate(question), Session()).decision
    assert decision.answered and decision.top is not None
    assert decision.top.measure.id == "hubei-unemployment-insurance-measures-2021#14", decision.top.measure.id


@pytest.mark.parametrize(
    "question",
    ["苏州失业保险金每月发多少？", "What's the monthly unemployment benefit in Suzhou?", "江苏失业金标准是多少"],
)
def test_another_provinces_notice_does_not_answer_for_a_place_at_home(many, question: str) -> None:  # type: ignore[no-untyped-def]
    """Only the Hubei notice prints the monthly benefit; a question about 苏州 or 江苏 is not answered with it."""
    from bot.models import Session

    decision = many.reply(many.validate(question), Session()).decision
    assert not decision.answered, [h.measure.id for h in decision.hits]


@pytest.mark.parametrize(
    ("question", "clause"),
    [
        ("我在苏州，想找零工市场，每个区都有吗？", "suzhou-flexible-employment-2024#1"),
        ("我没有苏州户口，能在苏州办就业登记吗？", "suzhou-flexible-employment-2024#13"),
    ],
)
def test_a_city_named_chooses_its_notice_not_the_clauses_that_print_its_name(many, question: str, clause: str) -> None:  # type: ignore[no-untyped-def]
    """苏州 says where the citizen is: the 苏州 notice comes first, and inside it the clause about the question,
    not the one that prints "苏州就业"/"苏州零工" (a mini-program's name)."""
    from bot.models import Session

    decision = many.reply(many.validate(question), Session()).decision
    assert decision.answered and decision.top is not None, decision.code
    assert decision.top.measure.id == clause, [h.measure.id for h in decision.hits]


def test_an_answer_cites_a_clause_the_way_its_notice_numbers_it(many) -> None:  # type: ignore[no-untyped-def]
    """第十四条 is cited as 第十四条 (not 第第十四条条), 五、 as 第五条, （七） as 第（七）条."""
    a = many.ask("在湖北领失业金期间医保要自己交吗？").answer
    assert a.citations and a.citations[0].cited == "第十四条", [c.label for c in a.citations]
    assert "第十四条" in a.answer and "第第" not in a.answer and "条条" not in a.answer


def test_a_city_named_in_english_or_by_a_county_chooses_its_notice(many) -> None:  # type: ignore[no-untyped-def]
    """Suzhou (the office directory's alias of 苏州) names the 苏州 notice as 苏州 does, and the 南京 Q&A on
    registering without a 南京 hukou does not answer for Suzhou."""
    from bot.models import Session

    q = "Can I register as flexibly employed in Suzhou without a Suzhou hukou?"
    decision = many.reply(many.validate(q), Session()).decision
    assert decision.answered and decision.top is not None, decision.code
    assert decision.top.measure.doc == "suzhou-flexible-employment-2024", [h.measure.id for h in decision.hits]


@pytest.mark.parametrize(
    ("question", "first", "also"),
    [
        # no place named: the provincial measure applies wherever the citizen is; the 苏州 clause is mentioned
        (
            "送外卖路上受伤了有保障吗",
            "jiangsu-hrss-digital-economy-measures-2022#14",
            "suzhou-flexible-employment-2024#8",
        ),
        # in 苏州: the city's own clause answers
        ("我在苏州送外卖，路上受伤了有保障吗", "suzhou-flexible-employment-2024#8", None),
    ],
)
def test_a_city_notice_answers_first_for_its_own_city(many, question: str, first: str, also: str | None) -> None:  # type: ignore[no-untyped-def]
    from bot.models import Session

    decision = many.reply(many.validate(question), Session()).decision
    assert decision.answered and decision.top is not None
    assert decision.top.measure.id == first, [h.measure.id for h in decision.hits]
    if also is not None:
        assert also in [h.measure.id for h in decision.related]


GUIDE = """泰州市失业保险技能提升补贴申领办事指南
泰州市人力资源和社会保障局
2024年10月8日
一、事项名称
失业保险技能提升补贴申领
二、申领条件
参加失业保险累计缴费满1年，并在本市取得职业资格证书或职业技能等级证书的企业职工。
三、补贴标准
初级工1000元、中级工1500元、高级工2000元。
四、申请材料
（1）居民身份证；
（2）职业资格证书或职业技能等级证书；
（3）本人社会保障卡。
五、办理时限
自受理之日起10个工作日内办结，补贴发放至本人社会保障卡银行账户。
六、咨询电话
0523-86123456
"""


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory, embeddings):  # type: ignore[no-untyped-def]
    from bot.answer import PolicyBot
    from bot.index import ensure_index

    root = tmp_path_factory.mktemp("guide")
    path = root / "tz-skills-subsidy-guide-2024.txt"
    path.write_text(GUIDE, encoding="utf-8")
    settings = make_settings(root, [NOTICE, path])
    return PolicyBot.with_index(settings, ensure_index(settings, embeddings), embeddings)


@pytest.mark.parametrize(
    ("question", "label", "printed"),
    [
        ("泰州失业保险技能提升补贴多长时间能发下来", "五、", "10个工作日内办结"),
        ("泰州技能提升补贴咨询电话是多少", "六、", "0523-86123456"),
        ("泰州技能提升补贴申请要带什么材料", "四、", "（2）职业资格证书或职业技能等级证书；"),
    ],
)
def test_a_guide_answers_from_the_heading_that_holds_the_detail(  # type: ignore[no-untyped-def]
    guide, question: str, label: str, printed: str
) -> None:
    """A 办事指南 names its topic only in its title; each heading holds one detail of it. "多长时间能发下来" is
    answered by "五、办理时限" and the materials by "四、申请材料", though neither clause prints 技能提升; the
    materials are one list, quoted whole. (Still refused, as not about the notice: "…多久能办下来？", whose
    best clause is the bare "一、事项名称".)"""
    a = guide.ask(question).answer
    assert a.in_scope and a.citations, a.answer
    assert a.citations[0].doc == "tz-skills-subsidy-guide-2024" and a.citations[0].label == label, a.citations
    assert printed in a.citations[0].quote
