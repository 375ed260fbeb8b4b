"""Masking of personal data (bot/privacy.py): one hypothesis property per kind, in any surrounding text, in
plain, full-width and Chinese-numeral writing, right after or before letters; and policy numbers stay."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from bot.privacy import clean_text, mask_pii

FAST = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
HAN = "稳岗返还培训补贴我们厂的工人请问怎么办理谢谢你好"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
# text around a value: Chinese, Latin letters, punctuation and spaces, but no digits (a digit next to a value
# makes a different, longer number)
context = st.text(alphabet=HAN + "abcXYZ ，。？：", max_size=8)
digit = st.sampled_from("0123456789")


def digits(n: int) -> st.SearchStrategy[str]:
    return st.lists(digit, min_size=n, max_size=n).map("".join)


def full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def numerals(s: str) -> str:
    return s.translate(str.maketrans("0123456789", "零一二三四五六七八九"))


writing = st.sampled_from(["plain", "full-width", "letters-before", "letters-after"])


def written(value: str, how: str) -> str:
    return {
        "plain": value,
        "full-width": full_width(value),
        "letters-before": "ID" + value,
        "letters-after": value + "abc",
    }[how]


def assert_hidden(secret: str, text: str) -> None:
    out = mask_pii(text)
    assert secret not in out, (text, out)
    assert full_width(secret) not in out, (text, out)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["320102", "320506", "110105", "440304"]))
    born = f"{draw(st.integers(1950, 2010))}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 28)):02d}"
    body = region + born + draw(digits(3))
    return body + ric.calc_check_digit(body)


@FAST
@given(value=resident_ids(), how=writing, before=context, after=context)
def test_resident_id_18(value: str, how: str, before: str, after: str) -> None:
    assert_hidden(value, before + written(value, how) + after)


@FAST
@given(value=digits(15), how=writing, before=context, after=context)
def test_resident_id_15(value: str, how: str, before: str, after: str) -> None:
    assert_hidden(value, before + written(value, how) + after)


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return "1" + draw(st.sampled_from("3456789")) + draw(digits(9))


@FAST
@given(
    value=mobiles(),
    how=st.sampled_from(["plain", "full-width", "letters-before", "letters-after", "dashes", "spaces", "+86", "han"]),
    before=context,
    after=context,
)
def test_mobile(value: str, how: str, before: str, after: str) -> None:
    forms = {
        "dashes": f"{value[:3]}-{value[3:7]}-{value[7:]}",
        "spaces": f"{value[:3]} {value[3:7]} {value[7:]}",
        "+86": "+86 " + value,
        "han": numerals(value),
    }
    text = forms[how] if how in forms else written(value, how)
    out = mask_pii(before + text + after)
    assert value not in out.replace("-", "").replace(" ", ""), out
    assert numerals(value) not in out and full_width(value) not in out, out


@FAST
@given(
    area=st.sampled_from(["025", "0510", "0512", "0513", "0516", "0519", "0523"]),
    first=st.sampled_from("2345678"),
    rest=digits(7),
    sep=st.sampled_from(["-", " ", ""]),
    paren=st.booleans(),
    before=context,
    after=context,
)
def test_landline(area: str, first: str, rest: str, sep: str, paren: bool, before: str, after: str) -> None:
    local = first + rest
    text = f"({area}){local}" if paren else f"{area}{sep}{local}"
    out = mask_pii(before + "电话" + text + after)
    assert local not in out and local[:6] not in out, out
    plain = mask_pii(before + text + after)  # without the cue word too
    assert local not in plain, plain


@FAST
@given(cue=st.sampled_from(["电话", "座机", "联系电话：", "tel "]), local=digits(8), before=context, after=context)
def test_local_number_after_a_phone_cue(cue: str, local: str, before: str, after: str) -> None:
    assert_hidden(local, before + cue + local + after)


@FAST
@given(n=st.integers(16, 19), data=st.data(), grouped=st.booleans(), before=context, after=context)
def test_bank_card(n: int, data: st.DataObject, grouped: bool, before: str, after: str) -> None:
    card = "62" + data.draw(digits(n - 2))
    text = " ".join(card[i : i + 4] for i in range(0, n, 4)) if grouped else card
    out = mask_pii(before + text + after)
    assert card not in out.replace(" ", ""), out


@FAST
@given(
    local=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=2, max_size=12).filter(
        lambda s: s[0].isalnum()
    ),
    domain=st.sampled_from(["example.com", "mail.example.cn", "qq.com", "163.com"]),
    wide=st.booleans(),
    before=context,
    after=st.text(alphabet=HAN + "，。？ ", max_size=8),
)
def test_email(local: str, domain: str, wide: bool, before: str, after: str) -> None:
    address = f"{local}@{domain}"
    out = mask_pii(before + (full_width(address) if wide else address) + after)
    assert address not in out and full_width(address) not in out, out


@FAST
@given(
    prefix=st.sampled_from(["E", "G", "EA", "EB"]),
    data=st.data(),
    cue=st.sampled_from(["护照", "护照号：", "passport ", ""]),
    before=context,
    after=st.text(alphabet=HAN + "，。？ ", max_size=8),
)
def test_passport(prefix: str, data: st.DataObject, cue: str, before: str, after: str) -> None:
    number = prefix + data.draw(digits(9 - len(prefix)))
    assert_hidden(number, before + cue + number + after)


@FAST
@given(
    cue=st.sampled_from(["QQ", "QQ号", "qq：", "扣扣"]),
    first=st.sampled_from("123456789"),
    data=st.data(),
    before=context,
    after=st.text(alphabet=HAN + "，。？ ", max_size=8),
)
def test_qq_number(cue: str, first: str, data: st.DataObject, before: str, after: str) -> None:
    number = first + data.draw(digits(data.draw(st.integers(4, 10))))
    assert_hidden(number, before + cue + number + after)


@FAST
@given(
    cue=st.sampled_from(["社保卡号", "社保卡", "社会保障卡号码是", "医保卡卡号：", "社保卡卡号"]),
    letter=st.sampled_from(["", "A", "B", "X"]),
    data=st.data(),
    before=context,
    after=st.text(alphabet=HAN + "，。？ ", max_size=8),
)
def test_social_security_card(cue: str, letter: str, data: st.DataObject, before: str, after: str) -> None:
    number = letter + data.draw(digits(data.draw(st.integers(8, 12))))
    assert_hidden(number, before + cue + number + after)


@FAST
@given(
    surname=st.sampled_from(SURNAMES),
    given_name=st.text(alphabet=GIVEN, min_size=1, max_size=2),
    city=st.sampled_from(["南京市鼓楼区", "苏州市姑苏区", "无锡市", ""]),
    street=st.sampled_from(["中山北路", "干将西路", "人民大道", "观前街", "石路新村"]),
    house=st.integers(1, 999),
    room=st.sampled_from(["", "3栋501室", "2单元302室"]),
    cue=st.sampled_from(["我叫", "姓名：", "联系人", ""]),
    phone=st.sampled_from(["025-83276666", "0512-65231234", "13912345678"]),
)
def test_name_with_address_and_landline(
    surname: str, given_name: str, city: str, street: str, house: int, room: str, cue: str, phone: str
) -> None:
    name = surname + given_name
    address = f"{street}{house}号{room}"
    text = f"{cue}{name}，{city}{address}，{phone}"
    out = mask_pii(text)
    assert name not in out and address not in out and f"{house}号" not in out, out
    assert phone.replace("-", "")[3:7] not in out.replace("-", ""), out


@FAST
@given(
    text=st.sampled_from(
        [
            "稳岗返还找谁？打12333",
            "2022年10月12日印发，资金60万元，每年200人次",
            "我是外卖骑手，在苏州，送了3年",
            "第（七）条说的是什么",
            "苏畅卡怎么办",
            "数字经济发展路径和中山路有关吗",
        ]
    )
)
def test_policy_numbers_and_plain_questions_stay(text: str) -> None:
    assert mask_pii(text) == text


def test_documented_example_and_surrogates() -> None:
    assert (
        mask_pii("我的身份证320102199001011234，电话13912345678，卡号6222 0202 0011 2233 445")
        == "我的身份证3201**********1234，电话139****5678，卡号6222***********3445"
    )
    assert clean_text("稳岗\ud800返还\udfff") == "稳岗返还"
    clean_text("稳岗\ud800返还").encode("utf-8")
