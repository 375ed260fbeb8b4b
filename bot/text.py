"""Text handling shared by indexing and querying: normalisation, jieba tokens, lexicon, typo repair.

Everything language- or domain-specific lives in data files under ``index/`` (``lexicon.json``,
``userdict.txt``, ``stopwords.txt``); this module only applies them.

Example::

    >>> ta = TextAnalyzer.load(get_settings())
    >>> ta.normalize("穩崗返還　要申請嗎？\u200b")
    '稳岗返还 要申请吗?'
    >>> ta.expansions("送外卖摔伤了")
    ['新就业形态', '平台企业', '职业伤害保障']
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORDISH = re.compile(r"[0-9a-z\u4e00-\u9fff]")
_SPACE = re.compile(r"\s+")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_QUOTED = re.compile(r"[“\"「『]([0-9A-Za-z+\u4e00-\u9fff]{2,10})[”\"」』]")


_GLUED_MIN_FREQ = 100  # jieba dictionary count from which a two-character string is a common word (德国 9604)
MEMO_ENTRIES = 65_536  # memoised lookups per analyzer before the memo starts over
_MAX_READINGS = 16  # pinyin spellings tried per n-gram (polyphonic characters multiply them)


@functools.lru_cache(maxsize=8192)
def _readings(ch: str) -> tuple[str, ...]:
    """The toneless pinyin readings of one character, the most common first (长 -> zhang, chang)."""
    from pypinyin import Style, pinyin

    return tuple(dict.fromkeys(pinyin(ch, style=Style.NORMAL, heteronym=True)[0]))


@dataclass(frozen=True)
class OutOfScopeTopic:
    """A topic the notices do not cover. A pattern is literal text; ``…`` inside it allows up to six other
    characters in between (``社保…转`` matches 社保怎么从外省转)."""

    topic: str
    patterns: tuple[str, ...]

    def matches(self, text: str, glued: Callable[[str, int], bool] | None = None) -> bool:
        """Whether a pattern occurs in ``text``. ``glued(text, i)`` tells when the character at ``i`` forms a
        common word with the one before it; a match starting there is part of another word (国考 inside
        德国考过, 高考 inside 提高考核) and does not count."""
        for p in self.patterns:
            for m in _pattern(p).finditer(text):
                if glued is None or not glued(text, m.start()):
                    return True
        return False


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(p: str) -> re.Pattern[str]:
    if p not in _PATTERNS:
        _PATTERNS[p] = re.compile(".{0,6}".join(re.escape(part) for part in p.split("…")))
    return _PATTERNS[p]


def _has_cue(text: str, cue: str) -> bool:
    """Substring match for Chinese cues; whole-word match for Latin-script ones (so "it" is not in "digital")."""
    if cue.isascii():
        return re.search(rf"(?<![a-z]){re.escape(cue)}(?![a-z])", text) is not None
    return cue in text


@dataclass(frozen=True)
class Lexicon:
    """The domain lexicon of ``index/lexicon.json`` (see its ``about`` field)."""

    expansions: dict[str, tuple[str, ...]]
    english: dict[str, tuple[str, ...]]
    out_of_scope: tuple[OutOfScopeTopic, ...]
    other_regions: tuple[str, ...]
    home_region: tuple[str, ...]
    anaphora: tuple[str, ...]
    office_intent: tuple[str, ...]
    elliptic_starts: tuple[str, ...]
    city_only_max_chars: int
    origin_before: tuple[str, ...] = ()  # a region right after these is where someone comes from (从外省)
    origin_after: tuple[str, ...] = ()  # ... or right before these (安徽人, 外省来的)
    region_parents: dict[str, str] = field(default_factory=dict)  # a city's province (武汉 -> 湖北)

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        dialogue = raw.get("dialogue", {})
        return cls(
            expansions={k.lower(): tuple(v) for k, v in raw.get("expansions", {}).items()},
            english={k.lower(): tuple(v) for k, v in raw.get("english", {}).items()},
            out_of_scope=tuple(
                OutOfScopeTopic(t["topic"], tuple(p.lower() for p in t["patterns"]))
                for t in raw.get("out_of_scope", [])
            ),
            other_regions=tuple(raw.get("other_regions", [])),
            home_region=tuple(raw.get("home_region", [])),
            anaphora=tuple(dialogue.get("anaphora", [])),
            office_intent=tuple(p.lower() for p in dialogue.get("office_intent", [])),
            elliptic_starts=tuple(p.lower() for p in dialogue.get("elliptic_starts", [])),
            city_only_max_chars=int(dialogue.get("city_only_max_chars", 12)),
            origin_before=tuple(raw.get("region_origin", {}).get("before", [])),
            origin_after=tuple(raw.get("region_origin", {}).get("after", [])),
            region_parents={k: v for k, v in raw.get("region_parents", {}).items() if k != "about"},
        )


def strip_invisible(text: str) -> str:
    """Drop NUL, control and format characters (zero-width, bidi overrides); keep visible text."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            out.append(" " if ch in "\t\n\r" else "")
        elif cat in ("Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    return "".join(out)


class TextAnalyzer:
    """Normalises questions, tokenises for BM25, expands with the lexicon and repairs homophone typos.

    Built once per process (jieba's dictionary takes ~1 s to load); every method is cheap afterwards.
    """

    def __init__(self, lexicon: Lexicon, userdict: Path | None, stopwords: Path | None) -> None:
        import jieba
        import opencc

        jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not ours to print
        self.lexicon = lexicon
        self._memo_expansions: dict[str, tuple[str, ...]] = {}
        self._memo_repairs: dict[str, tuple[str, ...]] = {}
        self._cc = opencc.OpenCC("t2s")
        self._to_hant = opencc.OpenCC("s2t")
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        if userdict and userdict.exists():
            self._jieba.load_userdict(str(userdict))
        self._stop: frozenset[str] = frozenset()
        if stopwords and stopwords.exists():
            self._stop = frozenset(
                w.strip().lower()
                for w in stopwords.read_text(encoding="utf-8").splitlines()
                if w.strip() and not w.startswith("#")
            )
        self._topics = lexicon.out_of_scope
        self._regions = lexicon.other_regions
        self.disabled_vetoes: tuple[str, ...] = ()
        self._vocab: frozenset[str] = frozenset()
        self._by_pinyin: dict[str, set[str]] = {}
        import snowballstemmer

        # English keys match on word stems, so "sharing employees" meets "share employee" and "injured" meets
        # "injure"; the order of the lexicon (longest keys first) decides the order of the expansions
        self._stemmer = snowballstemmer.stemmer("english")
        english = sorted(lexicon.english.items(), key=lambda kv: -len(kv[0]))
        self._english = [(self._stems(k), terms) for k, terms in english]

    @classmethod
    def load(cls, index_dir: Path) -> TextAnalyzer:
        return cls(
            Lexicon.load(index_dir / "lexicon.json"),
            index_dir / "userdict.txt",
            index_dir / "stopwords.txt",
        )

    # --- normalisation ----------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        """Visible, NFKC (full-width -> half-width), Simplified, lower-cased, single-spaced text."""
        text = strip_invisible(text)
        text = unicodedata.normalize("NFKC", text)
        text = self._cc.convert(text)
        return _SPACE.sub(" ", text).strip().lower()

    def to_simplified(self, text: str) -> str:
        return str(self._cc.convert(text))

    def to_traditional(self, text: str) -> str:
        return str(self._to_hant.convert(text))

    # --- tokens -----------------------------------------------------------------------------------
    def add_domain_terms(self, terms: Iterable[str]) -> None:
        self._forget()
        for t in terms:
            if 2 <= len(t) <= 12:
                self._jieba.add_word(t, freq=50)

    @staticmethod
    def quoted_terms(text: str) -> list[str]:
        """Terms the notices put in quotation marks (“智改数转”, “免申即享”…): treated as domain words."""
        return [m.group(1) for m in _QUOTED.finditer(text)]

    def words(self, text: str) -> list[str]:
        """jieba words of normalised text (search mode: long words plus their sub-words)."""
        return [w.strip() for w in self._jieba.cut_for_search(text) if w.strip()]

    def tokens(self, text: str) -> list[str]:
        """BM25 tokens: words of >= 2 characters or digits, stopwords dropped."""
        out = []
        for w in self.words(text):
            if w in self._stop or not _WORDISH.search(w):
                continue
            if len(w) >= 2 or w.isdigit():
                out.append(w)
        return out

    # --- lexicon ----------------------------------------------------------------------------------
    def expansions(self, text: str) -> list[str]:
        """Notice terms for the everyday (and English) words found in normalised ``text``, in order."""
        return list(self._memo(self._memo_expansions, self._expansions, text))

    def _memo(
        self, memo: dict[str, tuple[str, ...]], compute: Callable[[str], list[str]], text: str
    ) -> tuple[str, ...]:
        # ranking asks the same few query tokens once per candidate passage: a bounded memo per analyzer
        # (cleared when the dictionary or vocabulary changes) keeps that to one lexicon scan per token
        hit = memo.get(text)
        if hit is None:
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            hit = memo[text] = tuple(compute(text))
        return hit

    def _forget(self) -> None:
        self._memo_expansions.clear()
        self._memo_repairs.clear()

    def _expansions(self, text: str) -> list[str]:
        out: list[str] = []
        for key, terms in self.lexicon.expansions.items():
            if _has_cue(text, key):
                out.extend(t for t in terms if t not in out)
        stems = self._stems(text)
        grams = {tuple(stems[i : i + n]) for n in range(1, 5) for i in range(len(stems) - n + 1)}
        for stemmed, terms in self._english:
            if stemmed in grams:
                out.extend(t for t in terms if t not in out)
        return out

    def _stems(self, text: str) -> tuple[str, ...]:
        """Snowball stems of the Latin-script words of ``text`` ("Sharing employees" -> share, employe)."""
        return tuple(self._stemmer.stemWords(_LATIN_WORD.findall(text.lower())))

    def out_of_scope_topic(self, text: str) -> str | None:
        return next((t.topic for t in self._topics if t.matches(text, self.glued)), None)

    def restrict_to_corpus(self, texts: Iterable[str], regions: Iterable[str] = ()) -> list[str]:
        """Disable every out-of-scope topic one of whose patterns occurs in an indexed text, and every other
        region that an indexed notice applies to: no veto may refuse what a notice answers. Returns what was disabled
        ("topic 养老金和退休待遇: 养老保险", "region 湖北") for the build report."""
        corpus = "\n".join(self.normalize(t) for t in texts)
        disabled: list[str] = []
        topics = []
        for t in self.lexicon.out_of_scope:
            # one pattern a notice prints (养老保险) shows the topic is covered: the whole topic goes (养老金 too)
            found = [p for p in t.patterns if _pattern(p).search(corpus)]
            if found:
                disabled.append(f"topic {t.topic}: {', '.join(found)}")
            else:
                topics.append(t)
        self._topics = tuple(topics)
        served = [self.normalize(r) for r in regions if r]
        gone = {r for r in self.lexicon.other_regions if any(r in s or s.startswith(r) for s in served)}
        # a notice of a province serves its cities too: 湖北 indexed, "我在武汉…" is not another region
        gone |= {r for r in self.lexicon.other_regions if self.lexicon.region_parents.get(r) in gone}
        self._regions = tuple(r for r in self.lexicon.other_regions if r not in gone)
        disabled += [f"region {r}" for r in self.lexicon.other_regions if r in gone]
        self.disabled_vetoes = tuple(disabled)
        return disabled

    def glued(self, text: str, i: int) -> bool:
        """Whether ``text[i]`` forms a common word with the character before it (德国 in 德国考过: yes)."""
        return i > 0 and self._jieba.FREQ.get(text[i - 1 : i + 1], 0) >= _GLUED_MIN_FREQ

    def other_region(self, text: str) -> str | None:
        """A place outside Jiangsu named without Jiangsu or one of its cities also being named, and not
        merely as where someone comes from ("从外省挖一个人过来", "安徽人在这打工" ask about Jiangsu)."""
        if any(h in text for h in self.lexicon.home_region if len(h) > 1):
            return None
        return next((r for r in self._regions if self._names_target_region(text, r)), None)

    def _names_target_region(self, text: str, region: str) -> bool:
        start = text.find(region)
        while start != -1:
            before, after = text[:start], text[start + len(region) :]
            if not (
                any(before.endswith(b) for b in self.lexicon.origin_before)
                or any(after.startswith(a) for a in self.lexicon.origin_after)
            ):
                return True
            start = text.find(region, start + 1)
        return False

    def search_text(self, normalized: str) -> str:
        """What gets embedded for a question: its normalised text plus lexicon expansions and typo repairs."""
        extra = " ".join(self.expansions(normalized) + self.typo_repairs(normalized))
        return f"{normalized} {extra}".strip()

    def lexicon_terms(self) -> list[str]:
        """The notice-side terms the lexicon maps to (they join the vocabulary for typo repair)."""
        out = {t for terms in self.lexicon.expansions.values() for t in terms}
        out |= {t for terms in self.lexicon.english.values() for t in terms}
        return sorted(out)

    # --- typo repair ------------------------------------------------------------------------------
    def build_vocabulary(self, texts: Iterable[str], extra: Iterable[str] = ()) -> None:
        """Index corpus words by toneless pinyin so homophone typos (数剧 -> 数据) can be repaired."""
        from pypinyin import lazy_pinyin

        vocab: set[str] = set(extra)
        for t in texts:
            vocab.update(w for w in self.words(t) if len(w) >= 2 and _CJK.search(w))
        by_pinyin: dict[str, set[str]] = defaultdict(set)
        for w in vocab:
            if 2 <= len(w) <= 4 and all(_CJK.match(c) for c in w):
                by_pinyin[" ".join(lazy_pinyin(w))].add(w)
        self._forget()
        self._vocab = frozenset(vocab)
        self._by_pinyin = dict(by_pinyin)

    def typo_repairs(self, text: str) -> list[str]:
        """Corpus words that a character n-gram of ``text`` sounds like but does not spell.

        An n-gram is only repaired when it is neither a corpus word nor a word in jieba's general
        dictionary (so 上海 never becomes 伤害), and when it shares at least one character with the
        repair (a typo changes a character, it does not replace a word).
        """
        return list(self._memo(self._memo_repairs, self._typo_repairs, text))

    def _typo_repairs(self, text: str) -> list[str]:
        if not self._by_pinyin:
            return []
        freq = self._jieba.FREQ
        out: list[str] = []
        for run in _CJK_RUN.findall(text):
            readings = [_readings(ch) for ch in run]
            for n in (2, 3, 4):
                for i in range(len(run) - n + 1):
                    gram = run[i : i + n]
                    if gram in self._vocab or freq.get(gram):
                        continue
                    # every reading of a polyphonic character counts: 苏长卡 (zhang/chang) is 苏畅卡
                    for spelled in itertools.islice(itertools.product(*readings[i : i + n]), _MAX_READINGS):
                        for cand in self._by_pinyin.get(" ".join(spelled), ()):
                            if cand != gram and set(cand) & set(gram) and cand not in out:
                                out.append(cand)
        return out

    def is_policy_word(self, token: str) -> bool:
        """A word an indexed notice prints, or one the lexicon maps to notice terms."""
        return token in self._vocab or token.lower() in self.lexicon.expansions

    def is_known_word(self, token: str) -> bool:
        """A corpus word, a lexicon word or a word of jieba's general dictionary (not a cut artefact)."""
        return (
            token in self._vocab
            or token in self.lexicon.expansions
            or bool(self._jieba.FREQ.get(token))
            or not _CJK.search(token)
        )

    # --- dialogue cues ----------------------------------------------------------------------------
    def asks_for_office(self, text: str) -> bool:
        return any(_has_cue(text, p) for p in self.lexicon.office_intent)

    def refers_back(self, text: str) -> bool:
        """Anaphora (这个/它/这事/this…) or an elliptic start (那…/如果…/what about…) pointing at an earlier turn."""
        if any(_has_cue(text, a) for a in self.lexicon.anaphora if len(a) > 1):
            return True
        if any(text.startswith(a) for a in self.lexicon.anaphora if len(a) == 1):
            return True
        return any(text.startswith(s) for s in self.lexicon.elliptic_starts)

    def content_tokens(self, text: str) -> list[str]:
        """Tokens that carry topic: BM25 tokens minus dialogue cue words."""
        return self.tokens(text)
