"""Property tests (hypothesis): the notice parser never drops a measure silently, and question
normalisation is total, idempotent and never lets invisible characters through."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import MalformedNotice
from bot.ingest import parse_notice
from bot.privacy import mask_pii
from bot.text import TextAnalyzer

from .conftest import MINI, NOTICE

LINES = NOTICE.read_text(encoding="utf-8").splitlines()
FAST = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

mutation = st.sampled_from(["drop", "duplicate", "swap", "truncate", "garble", "blank"])


def mutate(lines: list[str], kind: str, i: int, j: int) -> list[str]:
    out = list(lines)
    i %= len(out)
    j %= len(out)
    if kind == "drop":
        del out[i]
    elif kind == "duplicate":
        out.insert(i, out[i])
    elif kind == "swap":
        out[i], out[j] = out[j], out[i]
    elif kind == "truncate":
        out[i] = out[i][: max(1, len(out[i]) // 2)]
    elif kind == "garble":
        out[i] = "？" + out[i][1:]
    else:
        out[i] = ""
    return out


@FAST
@given(kind=mutation, i=st.integers(0, 10_000), j=st.integers(0, 10_000))
def test_mutated_notice_parses_correctly_or_fails_naming_a_line(tmp_path_factory, kind: str, i: int, j: int) -> None:  # type: ignore[no-untyped-def]
    lines = mutate(LINES, kind, i, j)
    path: Path = tmp_path_factory.mktemp("mut") / "notice.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    printed = sum(1 for ln in lines if re.match(r"^\([一二三四五六七八九十]+\)", ln))
    try:
        doc = parse_notice(path)
    except MalformedNotice as exc:
        assert exc.path == str(path)
        assert 1 <= exc.line <= len(lines) + 1
        return
    # a successful parse accounts for every numbered measure line, in order
    assert [m.number for m in doc.measures] == list(range(1, len(doc.measures) + 1))
    assert len(doc.measures) == printed
    source = "\n".join(lines)
    for m in doc.measures:
        assert m.text and m.text in source
        assert all(u in source for u in m.units)


@FAST
@given(text=st.text(max_size=200))
def test_normalisation_is_total_idempotent_and_visible(text: str) -> None:
    ta = _analyzer()
    once = ta.normalize(text)
    assert ta.normalize(once) == once
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in once)
    assert once == once.strip()
    ta.tokens(once)
    ta.expansions(once)


@FAST
@given(digits=st.text(alphabet="0123456789", min_size=11, max_size=19), prefix=st.text(max_size=5))
def test_masking_never_leaves_a_long_identifier_whole(digits: str, prefix: str) -> None:
    masked = mask_pii(prefix + " " + digits + " 结束")
    if len(digits) in (16, 17, 18, 19) or (len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"):
        assert digits not in masked


_TA: TextAnalyzer | None = None


def _analyzer() -> TextAnalyzer:
    global _TA
    if _TA is None:
        _TA = TextAnalyzer.load(MINI.parents[2] / "index")
    return _TA
