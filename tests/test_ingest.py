from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import MalformedNotice
from bot.ingest import (
    chinese_numeral,
    load_sources,
    measure_label,
    parse_notice,
    split_sentences,
    to_chinese_numeral,
)

from .conftest import MINI, NOTICE


def test_the_notice_has_twenty_measures_in_ten_sections() -> None:
    doc = parse_notice(NOTICE)
    assert [m.number for m in doc.measures] == list(range(1, 21))
    assert len(doc.sections) == 10
    assert doc.issuer == "江苏省人力资源和社会保障厅"
    assert doc.date == "2022年5月23日"
    assert doc.name == "全省人力资源社会保障系统服务数字经济发展若干措施"
    assert doc.measures[6].label == "（七）"
    assert doc.measures[6].section == "三、促进产业数字化转型升级"
    assert doc.measures[6].id == f"{doc.slug}#7"


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


def _write(tmp_path: Path, text: str, name: str = "bad.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_missing_units_names_file_and_line(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace("(责任单位:就业处、职介中心,各设区市人力资源社会保障局)", "")
    p = _write(tmp_path, text)
    with pytest.raises(MalformedNotice) as err:
        parse_notice(p)
    assert err.value.path == str(p)
    assert err.value.line == 13
    assert "（三）" in err.value.reason


def test_a_skipped_number_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace("(三)为退役", "(四)为退役")
    with pytest.raises(MalformedNotice) as err:
        parse_notice(_write(tmp_path, text))
    assert err.value.line == 13
    assert "expected （三）" in err.value.reason


def test_notice_without_date_or_measures_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MalformedNotice, match="date"):
        parse_notice(_write(tmp_path, "标题\n正文\n(一)内容。(责任单位:就业处)\n"))
    with pytest.raises(MalformedNotice, match="no numbered measures"):
        parse_notice(_write(tmp_path, "标题\n江苏省人力资源和社会保障厅\n2022年5月23日\n只有正文\n"))
    with pytest.raises(MalformedNotice, match="empty"):
        parse_notice(_write(tmp_path, "\n\n"))


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


@pytest.mark.parametrize("n", [1, 7, 10, 11, 19, 20, 21, 99, 100, 101, 110, 120, 199])
def test_chinese_numerals_round_trip(n: int) -> None:
    assert chinese_numeral(to_chinese_numeral(n)) == n


def test_labels_and_sentences() -> None:
    assert measure_label(12) == "（十二）"
    assert split_sentences("甲。乙；丙") == ("甲。", "乙；", "丙")
