"""Masking of personal data before anything is stored or logged.

Kinds masked (all of them in questions, feedback comments, stored answers and logged URLs):

* 身份证号 (18 characters, last may be X; and the old 15-digit form), bank cards (16-19 digits) and any other
  run of 11 or more digits (spaces or dashes allowed between digits);
* phone numbers, mobile and landline, found by Google's libphonenumber (``phonenumbers``, region CN,
  ``Leniency.VALID``: 12333, years and dates are not phone numbers), plus 7-8 digit local numbers after a
  phone cue (电话, 座机 …);
* e-mail addresses; QQ, 社保卡, passport and other card/account numbers after their cue words; passport
  numbers of the Chinese form (E/G + 8 characters);
* names after a naming cue (我叫, 姓名, 联系人 …) or written right before an address or phone number, and street
  addresses with a house number (…路100号3栋501室).

Before matching, the text is read through a *shadow* of the same length: full-width characters become ASCII
(１３９ → 139, ＠ → @), runs of Chinese digit numerals become digits (一三九一二三四五六七八 → 13912345678), and
for the phone matcher a Latin letter next to a digit becomes a space (tel139…, ID3201…, 139…abc). Spans
found in the shadow are masked in the original; numbers keep their first and last digits so support staff
can still match a complaint, and short policy numbers (12333, 2022年, 60万元) stay. Cue words are data:
``index/privacy.json``.

Example::

    >>> mask_pii("我的身份证320102199001011234，电话13912345678，卡号6222 0202 0011 2233 445")
    '我的身份证3201**********1234，电话139****5678，卡号6222***********3445'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phonenumbers

from bot.config import REPO_ROOT

DEFAULT_CUES = REPO_ROOT / "index" / "privacy.json"

_NUMERALS = str.maketrans("零〇○一二三四五六七八九幺两", "0001234567891" + "2")
_NUMERAL_RUN = re.compile(r"[0-9零〇○一二三四五六七八九幺两](?:[ -]?[0-9零〇○一二三四五六七八九幺两]){6,}")
_LONG_DIGITS = re.compile(r"(?<![0-9])(\+?86[ -]?)?(\d(?:[ -]?\d){10,}(?:[ -]?[Xx])?)(?![0-9])")
_ID15 = re.compile(r"(?<![0-9])\d{15}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PASSPORT = re.compile(r"(?<![0-9])[EeGgDdSsPp][A-Za-z]?\d{7,8}(?![0-9])")
_LETTER_NEXT_TO_DIGIT = re.compile(r"[A-Za-z](?=\d)|(?<=\d)[A-Za-z]")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_HAN = "\u4e00-\u9fff"


def _shadow(text: str) -> str:
    """Same length as ``text``: full-width ASCII folded, Chinese digit numerals (in runs of 7+) as digits."""
    chars = []
    for c in text:
        o = ord(c)
        if 0xFF01 <= o <= 0xFF5E:
            chars.append(chr(o - 0xFEE0))
        elif o == 0x3000:
            chars.append(" ")
        else:
            chars.append(c)
    folded = "".join(chars)
    return _NUMERAL_RUN.sub(lambda m: m.group(0).translate(_NUMERALS), folded)


def _keep_ends(value: str, head: int, tail: int) -> str:
    """Mask every letter or digit of ``value`` except the first ``head`` and last ``tail`` of them."""
    positions = [i for i, c in enumerate(value) if c.isalnum()]
    if len(positions) <= head + tail:
        head, tail = 0, min(tail, max(len(positions) - 4, 0))
    hidden = set(positions[head : len(positions) - tail if tail else None])
    return "".join("*" if i in hidden else c for i, c in enumerate(value))


def _mask_number(run: str) -> str:
    digits = re.sub(r"[ -]", "", run)
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return digits[:3] + "****" + digits[-4:]
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


@dataclass(frozen=True)
class Masker:
    """The masking rules; :meth:`load` reads the cue words, :meth:`mask` applies them."""

    phone_cue: re.Pattern[str]
    value_cue: re.Pattern[str]
    name_cue: re.Pattern[str]
    name_before: re.Pattern[str]
    address: re.Pattern[str]

    @classmethod
    def load(cls, path: Path = DEFAULT_CUES) -> Masker:
        raw = json.loads(path.read_text(encoding="utf-8"))

        def alt(words: list[str]) -> str:
            return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

        sep = r"[\s:：是为=#]*"
        phone_cue = re.compile(rf"(?i)(?:{alt(raw['phone_cues'])}){sep}(\d(?:[ -]?\d){{6,7}})(?![0-9])")
        value = r"([A-Za-z0-9](?:[ -]?[A-Za-z0-9]){4,24})"
        value_cue = re.compile(rf"(?i)(?:{alt(raw['qq_cues'] + raw['card_cues'])})(?:号码|号)?{sep}{value}")
        surnames = raw["surnames"]
        name_cue = re.compile(rf"(?:{alt(raw['name_cues'])}){sep}([{_HAN}]{{2,4}})")
        region = alt(raw["region_suffixes"])
        street = alt(raw["street_suffixes"])
        unit = alt(raw["unit_suffixes"])
        number = r"[0-9一二三四五六七八九十百零〇-]+"
        # the street name: Han characters, not the verbs and particles that lead into an address
        street_name = rf"(?:(?![住在于是到去的和与及])[{_HAN}A-Za-z0-9]){{1,10}}?"
        address = re.compile(
            rf"((?:[{_HAN}]{{1,7}}?(?:{region}))*)({street_name}(?:{street}){number}号(?:[ ,，]?{number}(?:{unit}))*)"
        )
        name_before = re.compile(rf"(?<![{_HAN}])([{surnames}][{_HAN}]{{1,2}})(?=[\s,，、:：]*(?:[{_HAN}]|\+|\d))")
        return cls(phone_cue, value_cue, name_cue, name_before, address)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, replacement)`` for every personal value in ``text``, not overlapping."""
        shadow = _shadow(text)
        found: list[tuple[int, int, str]] = []

        def add(start: int, end: int, replacement: str) -> None:
            found.append((start, end, replacement))

        for m in _EMAIL.finditer(shadow):
            local, _, domain = m.group(0).partition("@")
            add(m.start(), m.end(), local[:1] + "*" * (len(local) - 1) + "@" + domain)
        for m in _LONG_DIGITS.finditer(shadow):
            add(m.start(2), m.end(2), _mask_number(m.group(2)))
        for m in _ID15.finditer(shadow):
            add(m.start(), m.end(), _keep_ends(m.group(0), 4, 4))
        phone_view = _LETTER_NEXT_TO_DIGIT.sub(" ", shadow)
        if re.search(r"\d(?:[ ()-]*\d){6}", phone_view):
            for pm in phonenumbers.PhoneNumberMatcher(phone_view, "CN", leniency=phonenumbers.Leniency.VALID):
                digits = sum(c.isdigit() for c in pm.raw_string)
                add(pm.start, pm.end, _keep_ends(pm.raw_string, 3 if digits >= 11 else 0, 4 if digits >= 11 else 2))
        for m in self.phone_cue.finditer(shadow):
            add(m.start(1), m.end(1), _keep_ends(m.group(1), 0, 2))
        for m in self.value_cue.finditer(shadow):
            add(m.start(1), m.end(1), _keep_ends(m.group(1), 1, 2))
        for m in _PASSPORT.finditer(shadow):
            add(m.start(), m.end(), _keep_ends(m.group(0), 1, 2))
        addresses = [(m.start(), m.start(2), m.end(2)) for m in self.address.finditer(shadow)]
        for _, start, end in addresses:
            add(start, end, _mask_address(shadow[start:end]))
        for m in self.name_cue.finditer(shadow):
            add(m.start(1), m.end(1), m.group(1)[0] + "*" * (len(m.group(1)) - 1))
        # a name written right before an address or a phone number ("张伟 南京市…", "李娜13912345678")
        anchors = {s for s, _, _ in addresses} | {s for s, _, _ in found}
        for m in self.name_before.finditer(shadow):
            rest = len(shadow) - len(shadow[m.end() :].lstrip(" ,，、:："))
            if rest in anchors:
                add(m.start(1), m.end(1), m.group(1)[0] + "*" * (len(m.group(1)) - 1))
        return _merge(found)

    def mask(self, text: str) -> str:
        out, last = [], 0
        for start, end, replacement in self.spans(text):
            out.append(text[last:start])
            out.append(replacement)
            last = end
        out.append(text[last:])
        return "".join(out)


def _mask_address(address: str) -> str:
    """Hide the street, the house number and the rest (the administrative prefix …市…区 is not matched here)."""
    return "".join("*" if c.isalnum() else c for c in address)


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted, non-overlapping; where two overlap the longer span wins (a fully masked merge of both)."""
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    merged: list[tuple[int, int, str]] = []
    for start, end, replacement in spans:
        if merged and start < merged[-1][1]:
            p_start, p_end, p_repl = merged[-1]
            if end > p_end:  # partial overlap: hide the union
                merged[-1] = (p_start, end, p_repl + "*" * (end - p_end))
            continue
        merged.append((start, end, replacement))
    return merged


@lru_cache(maxsize=1)
def default_masker() -> Masker:
    return Masker.load()


def mask_pii(text: str) -> str:
    """``text`` with every personal value masked (see the module docstring)."""
    if not text:
        return text
    return default_masker().mask(text)


def clean_text(text: str) -> str:
    """``text`` without lone surrogates: ``"\\ud800"`` from a JSON escape is no character and cannot be encoded
    as UTF-8 (for storage, logs or the reply), so it is dropped."""
    return _SURROGATE.sub("", text)


_SURROGATE = re.compile("[\ud800-\udfff]")
