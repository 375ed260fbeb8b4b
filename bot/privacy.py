"""Masking of personal data before anything is stored: 身份证号, 手机号, 银行卡号.

Every run of digits (spaces or dashes allowed between them) is classified by its length: 18 characters
ending in a digit or X is a resident ID, 11 digits starting 1[3-9] a mobile number (an optional +86 is
kept), 16-19 digits a bank card. The middle is replaced with ``*``; the ends stay, so support staff can
still match a complaint. Short numbers (12333, 2022年, 60万元) are policy text and stay.

Example::

    >>> mask_pii("我的身份证320102199001011234，电话13912345678，卡号6222 0202 0011 2233 445")
    '我的身份证3201**********1234，电话139****5678，卡号6222***********3445'
"""

from __future__ import annotations

import re

_NUMBER_RUN = re.compile(r"(?<![0-9A-Za-z])(\+?86[ -]?)?(\d(?:[ -]?\d){10,18}[Xx]?)(?![0-9A-Za-z])")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def _mask(match: re.Match[str]) -> str:
    prefix, run = match.group(1) or "", match.group(2)
    chars = re.sub(r"[ -]", "", run)
    if len(chars) == 18 and chars[:17].isdigit():
        return prefix + chars[:4] + "*" * 10 + chars[-4:]
    if len(chars) == 11 and _MOBILE.fullmatch(chars):
        return prefix + chars[:3] + "****" + chars[-4:]
    if 16 <= len(chars) <= 19 and chars.isdigit():
        return prefix + chars[:4] + "*" * (len(chars) - 8) + chars[-4:]
    return match.group(0)


def mask_pii(text: str) -> str:
    """Replace the middle of ID, mobile and bank-card numbers with ``*``."""
    return _NUMBER_RUN.sub(_mask, text)
