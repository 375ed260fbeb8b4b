from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from bot.errors import MalformedNotice
from bot.ingest import (
    Clause,
    Measure,
    chinese_numeral,
    cited_label,
    load_sources,
    measure_label,
    parse_date,
    parse_notice,
    parse_text,
    split_sentences,
    to_chinese_numeral,
)

from .conftest import DATA, MINI, NOTICE

NOTICES = sorted((DATA / "notices").glob("*.txt"))


# --- the seed notice: unchanged behaviour ------------------------------------------------------------
def test_the_notice_has_twenty_measures_in_ten_sections() -> None:
    doc = parse_notice(NOTICE)
    assert [m.number for m in doc.measures] == list(range(1, 21))
    assert len(doc.sections) == 10
    assert doc.issuer == "江苏省人力资源和社会保障厅"
    assert doc.issuers == ("江苏省人力资源和社会保障厅",)
    assert doc.date == "2022年5月23日" and doc.date_iso == "2022-05-23"
    assert (doc.region, doc.region_level) == ("江苏省", "province")
    assert doc.name == "全省人力资源社会保障系统服务数字经济发展若干措施"
    assert doc.measures[6].label == "（七）"
    assert doc.measures[6].section == "三、促进产业数字化转型升级"
    assert doc.measures[6].id == f"{doc.slug}#7"
    assert {m.unit_kind for m in doc.measures} == {"责任单位"}
    assert doc.addressees == "各设区市人力资源社会保障局,厅各处室、直属单位:"
    assert doc.preamble[-1].startswith("为深入贯彻省十四次党代会精神")  # the plan's preamble is context


def test_units_are_exactly_as_printed() -> None:
    text = NOTICE.read_text(encoding="utf-8")
    printed = re.findall(r"\(责任单位:([^)]+)\)", text)
    doc = parse_notice(NOTICE)
    assert [m.units_text for m in doc.measures] == printed
    for m, clause in zip(doc.measures, printed, strict=True):
        assert list(m.units) == re.split(r"[、,]", clause)
    assert doc.measures[6].units == ("就业处", "就管中心", "职介中心", "各设区市人力资源社会保障局")
    assert len(doc.measures[17].units) == 15


def test_sentences_rebuild_the_measure_text_verbatim() -> None:
    doc = parse_notice(NOTICE)
    for m in doc.measures:
        assert "".join(m.sentences) == m.text
        assert m.text in NOTICE.read_text(encoding="utf-8")


def test_continuation_lines_join_their_measure() -> None:
    doc = parse_notice(MINI)
    assert [m.number for m in doc.measures] == [1, 2, 3]
    assert doc.measures[1].text == "支持企业建设焊接实训基地,对建成的实训基地给予一次性奖补。"
    assert doc.measures[1].units == ("职业能力处", "就管中心", "各设区市人力资源社会保障局")
    assert Clause is Measure


# --- golden structures of the test notices (tests/data/notices/*.expected.json) ------------------------
@pytest.mark.parametrize("path", NOTICES, ids=lambda p: p.stem)
def test_real_shapes_parse_to_their_golden_structure(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))
    doc = parse_notice(path)
    for key in ("title", "doc_number", "addressees", "date", "date_iso", "region", "effective_from", "expires"):
        assert getattr(doc, key) == expected[key], key
    for key in ("issuers", "supersedes", "attachments"):
        assert list(getattr(doc, key)) == expected[key], key
    assert doc.issuer == "、".join(expected["issuers"])
    got = [
        (c.label, c.section, c.text[: len(e["starts_with"])], list(c.units), c.unit_kind)
        for c, e in zip(doc.measures, expected["clauses"], strict=False)
    ]
    want = [(e["label"], e["section"], e["starts_with"], e["units"], e["unit_kind"]) for e in expected["clauses"]]
    assert got == want
    assert len(doc.measures) == len(expected["clauses"])
    for c, e in zip(doc.measures, expected["clauses"], strict=True):
        if "lead_units" in e:
            assert list(c.lead_units) == e["lead_units"]
            assert list(c.cooperating_units) == e["support_units"]
    assert [c.number for c in doc.measures] == list(range(1, len(doc.measures) + 1))


@pytest.mark.parametrize("path", [NOTICE, *NOTICES], ids=lambda p: p.stem)
def test_no_printed_line_is_lost(path: Path) -> None:
    """Every line of the notice ends up somewhere in the record: a clause, a heading, the header, the
    signature, the preamble or closing, an attachment name or a units/contact parenthetical."""
    doc = parse_notice(path)
    blob = "\n".join(
        [doc.title, doc.doc_number, doc.addressees, doc.date, doc.issuer, doc.contact, *doc.issuers]
        + list(doc.preamble)
        + list(doc.closing)
        + list(doc.attachments)
        + [s.heading for s in doc.sections]
        + [f"{c.text}\n{c.units_text}\n{c.contact}\n{'、'.join(c.units)}" for c in doc.measures]
    )
    flat = re.sub(r"\s+", "", blob)
    for line in path.read_text(encoding="utf-8").splitlines():
        core = re.sub(r"\s+", "", line)
        core = re.sub(r"^[（(](?:责任单位|牵头单位|联系单位)[:：]|^附件[:：]", "", core)
        core = re.sub(
            r"^(?:第[一二三四五六七八九十百]+条|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)]|\d+[.、])",
            "",
            core,
        )
        if core and not re.fullmatch(r"[（(]此件.*[）)]", core):
            assert core[:12] in flat, line


@pytest.mark.parametrize("path", NOTICES, ids=lambda p: p.stem)
def test_sentences_and_text_are_verbatim(path: Path) -> None:
    source = re.sub(r"\s+", "", path.read_text(encoding="utf-8"))
    for c in parse_notice(path).measures:
        assert "".join(c.sentences) == c.text
        assert re.sub(r"\s+", "", c.text) in source


def test_articles_keep_their_enumerations() -> None:
    doc = parse_notice(DATA / "notices" / "hubei-unemployment-insurance-measures-2021.txt")
    art5 = doc.measures[4]
    assert art5.label == "第五条" and art5.line == 14
    assert art5.text.startswith("失业人员同时符合下列条件的，可以申领失业保险金：（一）失业前")
    assert art5.text.endswith("（三）已经进行失业登记，并有求职要求的。")
    assert [s.heading for s in doc.sections][:2] == ["第一章 总则", "第二章 失业保险金"]
    assert doc.name == "湖北省失业保险待遇申领发放管理办法"
    assert doc.preamble[0].startswith("为进一步规范全省失业保险待遇申领发放工作")  # the cover letter


def test_contact_units_on_the_next_line_keep_the_phone_verbatim() -> None:
    doc = parse_notice(DATA / "notices" / "js-skills-subsidy-2024.txt")
    five = doc.measures[4]
    assert five.units == ("省就业服务管理中心", "省职业技能鉴定中心")
    assert (
        five.contact
        == "联系单位：省就业服务管理中心，联系电话：025-83235627；省职业技能鉴定中心，联系电话：025-83276342"
    )
    assert "联系单位" not in five.text and five.text.endswith("培训期满考核合格后拨付剩余部分。")
    assert doc.measures[0].units == () and doc.measures[0].units_text == "" and doc.measures[0].unit_kind == ""
    assert doc.date == "二〇二四年三月十八日"


def test_closing_provisions_are_the_documents_not_the_last_clauses() -> None:
    suzhou = parse_notice(DATA / "notices" / "suzhou-flexible-employment-2024.txt")
    assert suzhou.closing[0].startswith("本通知自2024年6月1日起施行")
    assert "本通知" not in suzhou.measures[-1].text
    mohrss = parse_notice(DATA / "notices" / "mohrss-stabilize-jobs-2022.txt")
    # 执行至2023年4月30日 inside clause 六 is about a fee rate, not the notice: the notice's own term counts
    assert mohrss.expires == "2022-12-31"
    assert (mohrss.region, mohrss.region_level) == ("全国", "national")


def test_status_is_computed_against_a_date() -> None:
    mohrss = parse_notice(DATA / "notices" / "mohrss-stabilize-jobs-2022.txt")
    assert mohrss.status_on(dt.date(2022, 12, 31)) == "current"
    assert mohrss.status_on(dt.date(2023, 1, 1)) == "expired"
    seed = parse_notice(NOTICE)
    assert seed.expires == "" and seed.status_on(dt.date(2040, 1, 1)) == "current"


# --- shapes without a test notice ---------------------------------------------------------------------
UNNUMBERED = """江苏省人力资源和社会保障厅关于延长证书线上延期办理的通知
苏人社函〔2023〕12号
各设区市人力资源社会保障局：
为方便群众办事，经研究，现就有关事项通知如下：
一年内到期的职业资格证书，持证人可通过“江苏智慧人社”申请延期，无需到现场办理。
已经提交纸质材料的，各地应当在5个工作日内办结，
办结结果通过短信告知本人。
（联系单位：职业能力建设处，联系电话：025-00000000）
特此通知。
江苏省人力资源和社会保障厅
二○二三年二月十日
"""


def test_a_notice_without_numbered_items_has_one_clause_per_paragraph() -> None:
    doc = parse_text(UNNUMBERED, source="unnumbered.txt", slug="unnumbered")
    assert [c.label for c in doc.measures] == ["第1段", "第2段", "第3段"]
    assert doc.measures[0].text.startswith("一年内到期的职业资格证书")
    assert doc.measures[2].units == ("职业能力建设处",) and doc.measures[2].unit_kind == "联系单位"
    assert doc.preamble == ("为方便群众办事，经研究，现就有关事项通知如下：",)
    assert doc.closing == ("特此通知。",)
    assert doc.date_iso == "2023-02-10" and doc.doc_number == "苏人社函〔2023〕12号"


SIGNED_UNDER_TITLE = """关于开展2024年就业见习岗位募集工作的通知
南京市人力资源和社会保障局  南京市财政局
2024年3月5日
宁人社〔2024〕18号
各区人力资源和社会保障局、财政局：
现将有关事项通知如下：
一、募集范围
1、各类企业、事业单位、社会组织均可申报见习岗位。（责任单位：市就业服务中心）
2、见习岗位应当具有一定技术含量，
见习期限一般为3至12个月。
二、补贴标准
1、按当地最低工资标准的60%给予见习补贴。
（牵头单位：市就业服务中心；配合单位：市财政局、各区人力资源和社会保障局）
附件：见习岗位申报表
（此件主动公开）
附件
见习岗位申报表
单位名称
岗位数量
"""


def test_issuers_and_date_under_the_title_with_1_items_and_an_attachment() -> None:
    doc = parse_text(SIGNED_UNDER_TITLE, source="nanjing.txt", slug="nanjing")
    assert doc.issuers == ("南京市人力资源和社会保障局", "南京市财政局")
    assert (doc.region, doc.region_level) == ("南京市", "city")
    assert doc.doc_number == "宁人社〔2024〕18号" and doc.date_iso == "2024-03-05"
    assert [(c.label, c.section) for c in doc.measures] == [
        ("1、", "一、募集范围"),
        ("2、", "一、募集范围"),
        ("1、", "二、补贴标准"),
    ]
    assert doc.measures[1].text == "见习岗位应当具有一定技术含量，见习期限一般为3至12个月。"
    third = doc.measures[2]
    assert third.units == ("市就业服务中心", "市财政局", "各区人力资源和社会保障局")
    assert third.cooperating_units == ("市财政局", "各区人力资源和社会保障局")
    assert third.unit_kind == "牵头单位" and third.lead_units == ("市就业服务中心",)
    assert doc.attachments == ("见习岗位申报表",)
    assert any("attachment 见习岗位申报表" in w for w in doc.warnings)


LEAD_INS = """某市人力资源和社会保障局关于做好见习补贴申领工作的通知
各区人力资源和社会保障局：
一、补贴对象
（一）基本范围
离校2年内未就业高校毕业生参加就业见习的，见习单位可申领见习补贴，补贴期限最长不超过12个月。
1.见习单位应当与见习人员签订见习协议。
2.见习单位应当为见习人员办理人身意外伤害保险。
二、申领材料
（一）网上提交
见习单位通过市就业服务平台上传下列材料：
1.见习协议。
2.见习人员名册。
以上问答仅作为政策解读，具体以正式文件规定为准。
某市人力资源和社会保障局
2025年1月6日
"""


def test_text_before_a_headings_items_is_a_clause_and_a_list_stays_with_its_lead_in() -> None:
    """Text under a heading before its items states something (the term of the subsidy): a clause of its own,
    labelled by the heading. A lead-in announcing its items ("上传下列材料：") is one clause with them, as an
    article keeps its enumeration. A closing line about what precedes it is the document's closing."""
    doc = parse_text(LEAD_INS, source="leadins.txt", slug="leadins")
    assert [(c.label, c.section) for c in doc.measures] == [
        ("（一）", "一、补贴对象 （一）基本范围"),
        ("1.", "一、补贴对象 （一）基本范围"),
        ("2.", "一、补贴对象 （一）基本范围"),
        ("（一）", "二、申领材料 （一）网上提交"),
    ]
    assert "最长不超过12个月" in doc.measures[0].text
    assert "见习协议" in doc.measures[3].text and "见习人员名册" in doc.measures[3].text
    assert doc.closing == ("以上问答仅作为政策解读，具体以正式文件规定为准。",)


def test_chinese_numeral_dates_and_validity_phrases() -> None:
    assert parse_date("二〇二二年五月二十三日") == parse_date("二○二二年五月二十三日") == "2022-05-23"
    assert parse_date("2022年12月31日") == "2022-12-31"
    assert parse_date("2022年2月30日") == ""
    base = SIGNED_UNDER_TITLE.replace(
        "2、见习岗位应当具有一定技术含量，", "2、本通知自二〇二四年四月一日起施行，执行至2026年底，"
    ).replace("1、按当地", "1、原《关于见习补贴的通知》同时废止。按当地")
    doc = parse_text(base, source="v.txt", slug="v")
    assert (doc.effective_from, doc.expires) == ("2024-04-01", "2026-12-31")
    assert doc.supersedes == ("关于见习补贴的通知",)


ARTICLES = """湖北省测试办法
第一条 为规范失业保险金申领，制定本办法。
第二条 本办法适用于本省参加失业保险的单位及职工。
第三条 失业保险金按月发放。
第四条 本办法由省人力资源和社会保障厅负责解释。
第五条 执行时间。本办法自2021年7月1日起施行，有效期5年。原《测试旧办法》同时废止。
湖北省人力资源和社会保障厅
2021年6月1日
"""


def test_a_clause_about_the_document_itself_is_marked() -> None:
    """Entry into force, interpretation and repeal are administrative; "本办法适用于…" says whom it serves."""
    doc = parse_text(ARTICLES, source="articles.txt", slug="articles")
    assert [m.label for m in doc.measures if m.about_document] == ["第四条", "第五条"]


# --- strictness: file and line, never a silent drop -----------------------------------------------------
def _write(tmp_path: Path, text: str, name: str = "bad.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_missing_units_are_reported_not_guessed(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace("(责任单位:就业处、职介中心,各设区市人力资源社会保障局)", "")
    doc = parse_notice(_write(tmp_path, text))
    assert doc.measures[2].units == () and doc.measures[2].text == "为退役焊工提供就业指导和岗位推荐服务。"
    assert any("1 of 3 clauses print no units: （三）(line 13)" in w for w in doc.warnings)


def test_a_number_skipped_forward_is_kept_as_printed_and_reported(tmp_path: Path) -> None:
    """A misprint published notices carry: nothing is dropped, the label stays as printed, the report says it."""
    text = MINI.read_text(encoding="utf-8").replace("(三)为退役", "(四)为退役")
    doc = parse_notice(_write(tmp_path, text))
    labels = [m.label for m in doc.measures]
    assert "（四）" in labels and "（三）" not in labels
    assert any("line 13" in w and "expected （三）" in w for w in doc.warnings), doc.warnings


def test_a_number_going_backwards_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace("(三)为退役", "(二)为退役")
    with pytest.raises(MalformedNotice) as err:
        parse_notice(_write(tmp_path, text))
    assert err.value.line == 13
    assert "expected （三）" in err.value.reason


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        # a garbled heading
        (("(三)为退役", "？三)为退役"), 13, "numbering is unreadable"),
        # text after a clause's units
        (
            ("200人次。(责任单位:职业能力处,各设区市人力资源社会保障局)", "200人次。(责任单位:职业能力处)另有安排。"),
            9,
            "text after its units",
        ),
        # a section heading repeated
        (("二、就业服务", "一、就业服务"), 12, "一、 out of order: expected 二、"),
        # a titled item with nothing under it
        (
            (
                "(三)为退役焊工提供就业指导和岗位推荐服务。(责任单位:就业处、职介中心,各设区市人力资源社会保障局)",
                "(三)就业指导",
            ),
            13,
            "has no text",
        ),
    ],
)
def test_unreadable_structure_names_file_and_line(
    tmp_path: Path, change: tuple[str, str], line: int, reason: str
) -> None:
    text = MINI.read_text(encoding="utf-8")
    assert change[0] in text
    p = _write(tmp_path, text.replace(change[0], change[1]))
    with pytest.raises(MalformedNotice) as err:
        parse_notice(p)
    assert (err.value.path, err.value.line) == (str(p), line)
    assert reason in err.value.reason


def test_text_after_the_closing_signature_fits_no_structure(tmp_path: Path) -> None:
    text = (DATA / "notices" / "js-skills-subsidy-2019.txt").read_text(encoding="utf-8") + "另有一段说明。\n"
    with pytest.raises(MalformedNotice) as err:
        parse_notice(_write(tmp_path, text))
    assert err.value.line == 17 and "after the signature fits no structure" in err.value.reason


def test_text_under_a_chapter_outside_any_article(tmp_path: Path) -> None:
    text = (
        "江苏省示范办法\n江苏省人力资源和社会保障厅\n2023年3月1日\n"
        "第一章 总则\n本章说明适用范围。\n第一条 为规范管理，制定本办法。\n"
    )
    with pytest.raises(MalformedNotice) as err:
        parse_notice(_write(tmp_path, text))
    assert err.value.line == 5 and "outside any article" in err.value.reason


def test_notice_without_date_or_body_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MalformedNotice, match="date"):
        parse_notice(_write(tmp_path, "标题\n正文\n(一)内容。(责任单位:就业处)\n"))
    with pytest.raises(MalformedNotice, match="no body text"):
        parse_notice(_write(tmp_path, "标题\n江苏省人力资源和社会保障厅\n2022年5月23日\n"))
    with pytest.raises(MalformedNotice, match="empty"):
        parse_notice(_write(tmp_path, "\n\n"))
    # one paragraph under a signature is a (short) notice, not an error any more
    doc = parse_notice(_write(tmp_path, "标题\n江苏省人力资源和社会保障厅\n2022年5月23日\n只有正文。\n"))
    assert [(c.label, c.text) for c in doc.measures] == [("第1段", "只有正文。")]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "latin.txt"
    p.write_bytes("标题\n第二行\n".encode() + b"\xff\xfe bad\n")
    with pytest.raises(MalformedNotice) as err:
        parse_notice(p)
    assert err.value.line == 3


def test_two_notices_work_together_with_distinct_ids(tmp_path: Path) -> None:
    docs = load_sources([NOTICE, MINI])
    ids = [m.id for d in docs for m in d.measures]
    assert len(ids) == len(set(ids)) == 23
    assert {d.slug for d in docs} == {"jiangsu-hrss-digital-economy-measures-2022", "mini-notice"}


def test_duplicate_slugs_are_refused(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    (a / "Mini Notice.txt").write_text(MINI.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(MalformedNotice, match="already used"):
        load_sources([MINI, a / "Mini Notice.txt"])


@pytest.mark.parametrize(
    ("label", "cited"),
    [
        ("（七）", "第（七）条"),
        ("五、", "第五条"),
        ("6.", "第6条"),
        ("1、", "第1条"),
        ("第十四条", "第十四条"),
        ("第3段", "第3段"),
    ],
)
def test_a_label_is_cited_as_the_notice_numbers_it(label: str, cited: str) -> None:
    assert cited_label(label) == cited


@pytest.mark.parametrize("n", [1, 7, 10, 11, 19, 20, 21, 99, 100, 101, 110, 120, 199])
def test_chinese_numerals_round_trip(n: int) -> None:
    assert chinese_numeral(to_chinese_numeral(n)) == n


def test_labels_and_sentences() -> None:
    assert measure_label(12) == "（十二）"
    assert split_sentences("甲。乙；丙") == ("甲。", "乙；", "丙")


def test_a_table_printed_as_text_keeps_its_rows_apart() -> None:
    """Each row of a text table (and each line of an office list) is a sentence of its own: two rows never
    run together into a figure the notice does not print."""
    doc = parse_notice(DATA / "notices" / "cz-skills-training-rules-2025.txt")
    table = next(c for c in doc.measures if "电工" in c.text)
    rows = [s for s in table.sentences if s.startswith(("1  ", "2  "))]
    assert [r.strip() for r in rows] == ["1  电工  四级/中级工  1600", "2  焊工  四级/中级工  1800"]
    assert "16002" not in table.text
    offices = parse_notice(DATA / "notices" / "nt-job-stabilization-refund-announcement-2025.txt").measures[-1]
    assert sum(1 for s in offices.sentences if "联系电话" in s) == 8
    assert all(s.count("联系电话") <= 1 for s in offices.sentences)


def test_an_item_whose_text_opens_with_a_year_is_still_an_item() -> None:
    doc = parse_notice(DATA / "notices" / "nt-job-stabilization-refund-announcement-2025.txt")
    first = [c.label for c in doc.measures if c.section == "一、返还对象和条件"]
    assert first == ["1、", "2、", "3、"]
    assert not any("skips ahead" in w for w in doc.warnings)


PLAN_IN_PARTS = """江苏省人力资源和社会保障厅关于印发《技工教育发展规划》的通知
各设区市人力资源社会保障局：
现将《技工教育发展规划》印发给你们，请认真贯彻落实。
江苏省人力资源和社会保障厅
2023年2月1日
技工教育发展规划
第一部分 总体要求
到2025年，全省技工院校在校生规模稳定在30万人左右。
第二部分 主要任务
一、扩大办学规模
支持各设区市至少建设1所技师学院。
二、提升办学质量
开展技工院校办学质量评估，每3年评估一次。
"""


def test_a_plan_in_parts_keeps_every_part() -> None:
    """第一部分 / 第二部分 head a plan's parts: text under a part is a clause of its own, items under it are
    clauses with the part in their section; nothing is left in the preamble."""
    doc = parse_text(PLAN_IN_PARTS, source="plan.txt", slug="plan")
    assert [(c.label, c.section) for c in doc.measures] == [
        ("第一部分", "第一部分 总体要求"),
        ("一、", "第二部分 主要任务 一、扩大办学规模"),
        ("二、", "第二部分 主要任务 二、提升办学质量"),
    ]
    assert doc.measures[0].text.startswith("到2025年")
    assert not any("30万人" in p for p in doc.preamble)


def test_chinese_numerals_with_a_dot_are_items() -> None:
    text = "\n".join(
        [
            "南京市人力资源和社会保障局关于做好就业见习工作的通知",
            "各区人力资源和社会保障局：",
            "一．见习对象",
            "离校2年内未就业高校毕业生。",
            "二.见习补贴",
            "按最低工资标准的60%给予补贴。",
            "南京市人力资源和社会保障局",
            "2024年3月1日",
        ]
    )
    doc = parse_text(text, source="dot.txt", slug="dot")
    assert [c.label for c in doc.measures] == ["一、", "二、"]
    assert doc.measures[1].text == "按最低工资标准的60%给予补贴。"


HEADING_SENTENCES = """某市人力资源和社会保障局关于做好贷款贴息工作的通知
各区人力资源和社会保障局：
一、扩大支持范围。
（一）在本市创业的登记失业人员可以申请贷款。
（二）经营实体应当在本市登记注册并实际经营满3个月。
二、规范贴息管理。
（一）贷款第1年给予全额贴息。
某市人力资源和社会保障局
2024年3月15日
"""


def test_a_heading_printed_as_one_sentence_keeps_its_sub_points_as_clauses() -> None:
    """ "一、扩大支持范围。" names the topic of the （一）（二） under it, as "一、总体要求" would: each sub-point is a
    clause in that section, not one clause of the whole item."""
    doc = parse_text(HEADING_SENTENCES, source="sentences.txt", slug="sentences")
    assert [(c.label, c.section) for c in doc.measures] == [
        ("（一）", "一、扩大支持范围。"),
        ("（二）", "一、扩大支持范围。"),
        ("（一）", "二、规范贴息管理。"),
    ]
    assert "实际经营满3个月" in doc.measures[1].text


GUIDE = """常州市失业保险技能提升补贴申领指南
常州市人力资源和社会保障局
2024年9月1日
一、申领条件
参加失业保险1年以上，取得职业资格证书或职业技能等级证书的企业职工。
二、申请材料
（1）身份证；
（2）职业技能等级证书；
（3）本人社会保障卡。
三、办理时限
自受理之日起10个工作日内办结。
"""


def test_items_that_are_one_list_stay_one_clause() -> None:
    """ "（1）身份证；（2）…；（3）…。" under "二、申请材料" are the members of one list (each but the last ends in
    ；): one clause that an answer can quote whole, not three fragments."""
    doc = parse_text(GUIDE, source="guide.txt", slug="guide")
    assert [(c.label, c.section) for c in doc.measures] == [
        ("一、", "一、申领条件"),
        ("二、", "二、申请材料"),
        ("三、", "三、办理时限"),
    ]
    assert doc.measures[1].text == "（1）身份证；（2）职业技能等级证书；（3）本人社会保障卡。"
