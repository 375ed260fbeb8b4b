"""The grounding guard, table-driven: claims in, verdicts out.

The grounding is a measure we wrote for these tests (not the indexed notice), with the real office directory
(``index/offices.json``) as the set of office names the guard must recognise as foreign.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bot.config import REPO_ROOT
from bot.guard import (
    DATE,
    DOC_NUMBER,
    MEASURE,
    NUMBER,
    OFFICE,
    QUOTE,
    QUOTED_NAME,
    TITLE,
    Checker,
    GuardRules,
    MeasureFacts,
    OfficeFacts,
    build_grounding,
    check,
    extract_claims,
    flat,
)

DIRECTORY = json.loads((REPO_ROOT / "index" / "offices.json").read_text(encoding="utf-8"))
KNOWN_OFFICES = (
    {o["name"] for o in DIRECTORY["offices"]}
    | {o["full_name"] for o in DIRECTORY["offices"] if o.get("full_name")}
    | {c["bureau"] for c in DIRECTORY["cities"]}
    | {DIRECTORY["issuer"]}
)

MEASURE_3 = MeasureFacts(
    doc="test-notice",
    number=3,
    label="（三）",
    section="二、培养数字技能人才",
    sentences=(
        "每年遴选培育1000名数字经济领域优秀工程技术人才。",
        "开展线上职业技能培训，每年培训10万人次以上。",
        "对符合条件的创业园区，给予最高不超过60万元的奖励补助，补贴比例为50%。",
        "推行“技能培训+就业服务”全链条模式，探索推行江苏人才“苏畅卡”。",
        "本措施自2022年5月23日起施行。",
    ),
    quote="每年遴选培育1000名数字经济领域优秀工程技术人才。",
)
GROUNDING = build_grounding(
    "我们公司有200名技术员，能参加数字工程师培育吗？",
    [MEASURE_3],
    [
        OfficeFacts("专技处", None, "省人社厅内设处室", "职称评审、专业技术人员继续教育"),
        OfficeFacts("职业能力处", None, "省人社厅内设处室", "职业技能培训"),
        OfficeFacts("各设区市人力资源社会保障局"),
    ],
    known_offices=KNOWN_OFFICES,
    corpus_labels=[f"（{n}）" for n in "一二三四五六七八九十"],
    contact=["苏州市人力资源和社会保障局", "12333", "人力资源和社会保障服务热线"],
    sources=["关于印发数字技能人才若干措施的通知", "江苏省人力资源和社会保障厅", "2022年5月23日"],
)


# --- claims: different spellings of the same figure normalise to the same key ------------------------------
SAME_KEY = [
    (["1000名", "一千名", "１０００名", "1,000名", "1000人", "一千位"], (Decimal(1000), "人")),
    (["10万人次", "十万人次", "100000人次", "１０万人次"], (Decimal(100000), "人次")),
    (["60万元", "六十万元", "600000元", "600,000元", "0.006亿元"], (Decimal(600000), "元")),
    (["1.5万元", "一万五千元", "15000元"], (Decimal(15000), "元")),
    (["两万元", "2万元", "20000元", "二万元"], (Decimal(20000), "元")),
    (["50%", "50％", "百分之五十", "百分之50"], (Decimal(50), "%")),
    (["6个月", "六个月"], (Decimal(6), "月")),
    (["3次", "三次"], (Decimal(3), "次")),
]


@pytest.mark.parametrize(("spellings", "key"), SAME_KEY)
def test_figures_normalise_to_one_value_and_unit(spellings: list[str], key: tuple[Decimal, str]) -> None:
    for text in spellings:
        claims = [c for c in extract_claims(f"每人{text}。") if c.kind == "number"]
        assert [c.key for c in claims] == [key], text


DATES = [
    ("2022年5月23日", (2022, 5, 23)),
    ("二〇二二年五月二十三日", (2022, 5, 23)),
    ("２０２２年５月２３日", (2022, 5, 23)),
    ("2022年5月", (2022, 5, None)),
    ("5月23号", (None, 5, 23)),
    ("2022年", (2022, None, None)),
]


@pytest.mark.parametrize(("text", "key"), DATES)
def test_dates_are_read_in_every_spelling(text: str, key: tuple[int | None, ...]) -> None:
    assert [(c.kind, c.key) for c in extract_claims(f"自{text}起") if c.kind != "number"] == [("date", key)]


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("第（七）条", "measure", 7),
        ("（七）", "measure", 7),
        ("(七)", "measure", 7),
        ("第七条", "measure", 7),
        ("第7条", "measure", 7),
        ("第十二项", "measure", 12),
        ("苏人社发〔2022〕35号", "doc_number", (2022, 35)),
        ("苏人社发[2022]35号", "doc_number", (2022, 35)),
        ("“苏畅卡”", "quoted_name", "苏畅卡"),
        ("「对符合条件的企业」", "quote", "对符合条件的企业"),
        ("原文写明“每年培训10万人次以上”", "quote", "每年培训10万人次以上"),
        ("《数字技能人才若干措施》", "title", "数字技能人才若干措施"),
    ],
)
def test_labels_document_numbers_and_quotations(text: str, kind: str, key: object) -> None:
    claims = [c for c in extract_claims(text) if c.kind == kind]
    assert [c.key for c in claims] == [key]


@pytest.mark.parametrize(
    "text",
    [
        "一个人也能申请吗",
        "一次性发放",
        "进一步加强",
        "统一办理",
        "十分重要",
        "老百姓",
        "教书十几年了",
        "十四五规划",
        "一批企业",
    ],
)
def test_words_with_numeral_characters_are_not_figures(text: str) -> None:
    assert [c for c in extract_claims(text) if c.kind == "number"] == []


def test_a_duration_inside_an_idiom_is_still_read() -> None:
    assert [c.key for c in extract_claims("一个月内办结")] == [(Decimal(1), "月")]


# --- verdicts: grounded replies pass ----------------------------------------------------------------------
GROUNDED = [
    "每年培育1000名优秀工程技术人才。",
    "每年培育一千名优秀工程技术人才。",
    "每年培育１０００名优秀工程技术人才。",
    "线上培训每年十万人次以上。",
    "线上培训每年100000人次以上。",
    "符合条件的园区最高可以拿到六十万元奖励，补贴比例是百分之五十。",
    "最高600000元。",
    "这条措施从二〇二二年五月二十三日起施行。",
    "2022年5月起就开始了。",
    "这是第（三）条的规定，也就是第三条。",
    "具体由专技处和职业能力处负责，您可以到苏州市人力资源和社会保障局办理，或拨打12333咨询。",
    "各设区市人力资源社会保障局负责具体受理。",
    "也可以找当地人社部门或人社局咨询。",
    "原文写明「每年遴选培育1000名数字经济领域优秀工程技术人才」。",
    "文件规定“对符合条件的创业园区，给予最高不超过60万元的奖励补助”。",
    "文件写明“开展线上职业技能培训……每年培训10万人次以上”。",
    "江苏还在探索推行人才“苏畅卡”，采用“技能培训+就业服务”的模式。",
    "贵公司的200名技术员可以关注这项政策。",
    "这样做的好处是处理起来更快，是否符合条件以当地人社部门认定为准。",
    "来源是江苏省人力资源和社会保障厅发布的《关于印发数字技能人才若干措施的通知》。",
    "或拨打12333人力资源和社会保障服务热线咨询。",
    # the count of the decision's offices (the composer summarises long lists so)
    "由专技处、职业能力处等3个单位负责。",
    # whole sentences of the measure, not adjacent ones (the composer quotes the sentences that answer)
    "原文：“每年遴选培育1000名数字经济领域优秀工程技术人才。本措施自2022年5月23日起施行。”",
]


@pytest.mark.parametrize("text", GROUNDED)
def test_grounded_replies_pass(text: str) -> None:
    verdict = check(text, GROUNDING)
    assert verdict.ok, verdict.violations


# --- verdicts: every invented or foreign claim is named with its rule -----------------------------------
VIOLATIONS = [
    ("每年培育2000名优秀人才。", NUMBER, "2000名"),
    ("每年培育两千名优秀人才。", NUMBER, "两千名"),
    ("每年培育１５００名优秀人才。", NUMBER, "1500名"),
    ("线上培训每年20万人次。", NUMBER, "20万人次"),
    ("最高可获得80万元奖励。", NUMBER, "80万元"),
    ("最高可获得八十万元奖励。", NUMBER, "八十万元"),
    ("补贴比例为30%。", NUMBER, "30%"),
    ("补贴比例为百分之三十。", NUMBER, "百分之三十"),
    ("每人补贴1000元。", NUMBER, "1000元"),  # 1000 is a count of people in the measure, not money
    ("一个月内办结。", NUMBER, "一个月"),
    ("请拨打12345咨询。", NUMBER, "12345"),
    ("本措施从2023年起施行。", DATE, "2023年"),
    ("本措施从二〇二二年六月起施行。", DATE, "二〇二二年六月"),
    ("依据苏人社发〔2022〕35号文件执行。", DOC_NUMBER, "〔2022〕35号"),
    ("这是第（七）条的规定。", MEASURE, "第(七)条"),
    ("另见第7条。", MEASURE, "第7条"),
    ("另见（三十）。", MEASURE, "(三十)"),
    ("请联系就业处。", OFFICE, "就业处"),
    ("请联系专业技术人员管理处。", OFFICE, "专业技术人员管理处"),
    ("请到无锡市人力资源和社会保障局办理。", OFFICE, "无锡市人力资源和社会保障局"),
    ("请联系人才服务中心。", OFFICE, "人才服务中心"),
    ("请联系技能人才处。", OFFICE, "技能人才处"),
    ("请到省人才办咨询。", OFFICE, "省人才办"),
    ("请到市民服务大厅办理。", OFFICE, "市民服务大厅"),
    ("原文写明「每年遴选培育1000名优秀人才」。", QUOTE, "「每年遴选培育1000名优秀人才」"),
    ("文件规定“给予最高60万元的奖励”。", QUOTE, "“给予最高60万元的奖励”"),
    ("可以申请“苏才卡”。", QUOTED_NAME, "“苏才卡”"),
    ("由专技处、职业能力处等4个单位负责。", NUMBER, "4个"),
    # each sentence verbatim, but the join is not a sentence end: a made-up sentence
    ("原文：“每年遴选培育1000名数字经济领域优秀工程技术人才，本措施自2022年5月23日起施行。”", QUOTE, "每年遴选"),
    ("详见《江苏省数字经济促进条例》。", TITLE, "《江苏省数字经济促进条例》"),
]


@pytest.mark.parametrize(("text", "rule", "claim"), VIOLATIONS)
def test_ungrounded_claims_are_named(text: str, rule: str, claim: str) -> None:
    verdict = check(text, GROUNDING)
    assert not verdict.ok
    assert any(v.rule == rule and claim in v.claim for v in verdict.violations), verdict.violations


def test_a_question_grounds_its_own_figures_but_not_quotes() -> None:
    assert check("贵公司的200名技术员", GROUNDING).ok
    # a quote must come from a cited measure: the citizen's words are not the notice's
    assert [v.rule for v in check("文件写明「我们公司有200名技术员」", GROUNDING).violations] == [QUOTE]


def test_a_misquote_with_an_invented_figure_breaks_two_rules() -> None:
    verdict = check("原文写明“每年遴选培育2000名数字经济领域优秀工程技术人才”。", GROUNDING)
    assert {v.rule for v in verdict.violations} == {QUOTE, NUMBER}


def test_an_unclosed_quote_at_the_end_is_still_a_quote() -> None:
    assert [v.rule for v in check("原文写明“每年培育2000", GROUNDING).violations][:1] == [QUOTE]


def test_a_directory_office_named_by_a_cited_measure_passes() -> None:
    m = MeasureFacts("t", 4, "（四）", "三、", ("筹建江苏省数字经济人才市场。",))
    g = build_grounding("人才市场", [m], [OfficeFacts("流动管理处")], known_offices=KNOWN_OFFICES)
    assert check("文件提到要筹建数字经济人才市场。", g).ok
    assert [v.claim for v in check("可以去人才市场问问。", g).violations] == ["人才市场"]


def test_the_checker_is_reusable_and_full_width_text_compares_equal() -> None:
    checker = Checker(GROUNDING)
    assert checker.check("每年１０万人次。").ok
    assert not checker.check("每年１１万人次。").ok
    assert flat("“苏畅卡”，　１０００") == "苏畅卡,1000"


def test_rules_load_from_the_data_file() -> None:
    rules = GuardRules.load(REPO_ROOT / "index" / "guard.json")
    assert "万元" in rules.units and rules.units["万元"] == ("元", Decimal(10000))
    assert check("每年培育1000名", GROUNDING, rules).ok
