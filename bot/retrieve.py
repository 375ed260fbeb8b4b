"""Retrieve: rank the clauses of the indexed notices for an analysed question. Ranking only: whether the best
clause answers the question is :mod:`bot.scope`'s decision.

How a question is scored (one query embedding):

1. **Dense** - e5 embeds ``question + expansions``; FAISS gives the cosine to every chunk. A clause gets two
   dense signals: its whole-text cosine and its best sentence's cosine (one precise sentence beats a long
   clause that mentions everything).
2. **Lexical** - BM25 (bm25s, jieba tokens) over clauses, with the question's tokens plus expansions.
3. **Fusion** - each signal is z-scored across clauses and summed with ``FUSION_WEIGHTS``. z-scoring makes
   cosines (which e5 packs into 0.8-0.97) and BM25 (unbounded) comparable without tuning per query.
4. **Examples** - labelled example questions (``index/examples.jsonl``, optional) close to the question lift
   their clause.
5. **Conversation** - a follow-up adds the previous question's ranking (damped) and a prior on the clause in
   play; a pinned clause (named by number, or a meta follow-up) goes first, and so does the clause in play
   for a follow-up with no topic of its own ("那需要什么条件").
6. **Notices** - among several notices, one the question names (by year or 文号, or another province's by its
   region) comes first; a superseded notice comes after its successor, and a clause about the document
   itself (施行, 解释, 废止) after the measures unless it prints what is asked.

Each hit carries the raw signals the scope decision turns into features (dense cosine and where it stands
among all clauses, coverage of the question's words, the rarest word the clause lacks, example similarity).

Example::

    >>> r = PolicyRetriever(index, embeddings).rank(analyzer.analyze("外卖骑手送餐摔伤了有保障吗"))
    >>> r.top.measure.label
    '（十四）'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.embeddings import VectorEmbeddings
from bot.index import KnowledgeIndex
from bot.ingest import Measure
from bot.query import QueryAnalysis

FUSION_WEIGHTS = (0.5, 1.0, 0.75)  # (clause cosine, best-sentence cosine, BM25), applied to z-scores
PRIOR_WEIGHT = 1.0  # z-units added to the previous turn's clause when a turn continues a conversation
# z-units added to the clauses of a notice of another province the question names by region (湖北, 武汉):
# the region word selects the notice, and within it no longer favours the few clauses that print it
REGION_WEIGHT = 1.0
DOCUMENT_REF_WEIGHT = 2.0  # z-units added to the clauses of the notice a question names by year or 文号
# z-units taken from the clauses of a superseded notice: the notice that replaced it answers first (unless the
# question names the old one); it still answers what only it covers
SUPERSEDED_PENALTY = 1.0
# z-units taken from the clauses of a city's notice when neither the question nor the previous one names a place:
# the citizen may be in any of the province's cities, so the provincial or national clause on the same matter
# answers first; a city notice still answers what only it covers. Chosen from 0.5 / 1.0 with the seed beside the
# thirteen test notices (0.5: seed held-out top-1 0.806 -> 0.816, notices' doc top-1 0.777 -> 0.784; 1.0: 0.827,
# 0.777)
CITY_PENALTY = 0.5
# z-units taken from a clause about the document itself (自…起施行, 负责解释, 同时废止): it quotes the title and
# so resembles every question about the notice, but answers only what its own text provides (a date, a term)
ABOUT_DOCUMENT_PENALTY = 2.0
REFERS_BACK_FACTOR = 2.0  # ... doubled when the turn points back explicitly (那/这个/它/this)
SIBLINGS = 3  # clauses of the first clause's notice that print the detail asked, offered to the scope decision
CONTEXT_WEIGHT = 0.5  # share of the previous question's fused ranking carried into a follow-up
QUOTE_MARGIN = 0.8  # evidence-score units (4 x cosine + overlap): sentences this close to the best join the quote
# Example bank: a clause whose example is at least EXAMPLE_FLOOR similar gains up to EXAMPLE_WEIGHT z-units
# (full at EXAMPLE_FLOOR + EXAMPLE_SPAN). Office-style examples do not steer: they share form, not topic.
EXAMPLE_FLOOR = 0.91
EXAMPLE_SPAN = 0.05
EXAMPLE_WEIGHT = 1.5
_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
_DIGIT = re.compile(r"\d")
LATIN_MAPPED_WEIGHT = 10.0  # about the rarity of a common Chinese content word (补贴 11.5, 培训 9.5)
LATIN_UNMAPPED_WEIGHT = 3.0


@dataclass(frozen=True)
class Evidence:
    sentence: int
    text: str
    score: float
    row: int = -1  # its chunk row in the dense index (-1: not from an index)


@dataclass(frozen=True)
class MeasureHit:
    measure: Measure
    score: float  # fused z-score (plus examples and conversation prior)
    dense: float  # best-sentence cosine
    measure_cos: float  # whole-clause cosine
    lexical: float  # BM25
    coverage: float  # share of the question's words (rarity-weighted) the clause contains
    uncovered: float  # rarity share of the question's most telling word the clause lacks (0 when none)
    quote_coverage: float  # coverage of the question's words by the quoted sentences alone
    evidence: tuple[Evidence, ...] = field(repr=False)
    example: float = 0.0  # cosine of the closest example question labelled with this clause
    # the question's vector minus its best evidence sentence's: what the question asks beyond what the clause
    # says (a near miss asks "要不要报备" of a clause that only names the topic); None when not computed
    residual: np.ndarray | None = field(default=None, repr=False, compare=False)
    # share of the question's words the clause covers read with its notice's name, which gives the topic to
    # clauses that print none themselves (a 办事指南's "五、办理时限：自受理之日起15个工作日内办结")
    topic_coverage: float = 0.0

    def quote(self, max_sentences: int = 3) -> tuple[Evidence, ...]:
        """1-3 sentences that answer the question, in the order the notice prints them."""
        if not self.evidence:
            return ()
        best = self.evidence[0].score
        chosen = [e for e in self.evidence[:max_sentences] if e.score >= best - QUOTE_MARGIN]
        return tuple(sorted(chosen, key=lambda e: e.sentence))


@dataclass(frozen=True)
class Ranking:
    """The ranked clauses for one question, with what the scope decision needs about the whole field."""

    query: QueryAnalysis
    hits: tuple[MeasureHit, ...]
    dense_mean: float = 0.0  # best-sentence cosine over all clauses: mean, spread, median
    dense_std: float = 0.0
    dense_median: float = 0.0
    lexical_mean: float = 0.0
    lexical_std: float = 0.0
    example_out: float = 0.0  # cosine of the closest out-of-scope example question (0 without a bank)
    examples: bool = False  # the first clause has labelled examples in the bank (their similarity is evidence)
    foreign: bool = False  # the first clause belongs to a notice of a region outside the home province
    national: bool = False  # ... or to a national notice (it applies in every region a question may name)
    # the first clause is of another province's notice, and the question names a place at home (苏州, 江苏)
    # and not that province: that notice does not apply where the citizen asks about
    foreign_for_home: bool = False
    pinned: bool = False  # the first hit was pinned (named by number, or a meta follow-up)
    local: frozenset[str] = frozenset()  # the notices of a city at home that the question names (我在苏州…)
    # other clauses of the first clause's notice that print every strict detail the question asks, best first
    siblings: tuple[MeasureHit, ...] = ()
    continuing: bool = False  # a conversation prior was applied and the first hit is the clause in play
    # the question's words no live notice contains at all (directly or via the lexicon), rarity-weighted:
    # share of the words, and share of the most telling one (corpus-relative: what *these* notices print)
    absent: float = 0.0
    absent_top: float = 0.0

    @property
    def top(self) -> MeasureHit | None:
        return self.hits[0] if self.hits else None


# a 文号 as printed in a title line or cited in a clause: 苏人社发〔2024〕35号 -> ("2024", "35")
_DOC_NUMBER = re.compile(r"[〔\[(（]((?:19|20)\d{2})[〕\])）]\s*(\d{1,4})\s*号")


def _document_keys(date_iso: str, doc_number: str) -> tuple[set[str], set[str]]:
    """(years, 文号 numbers) a notice can be named by: "2024-03-18", "苏人社发〔2024〕35号" -> ({"2024"}, {"35"})."""
    printed = _DOC_NUMBER.findall(doc_number)
    years = {date_iso[:4]} if date_iso[:4].isdigit() else set()
    return years | {y for y, _ in printed}, {n for _, n in printed}


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    if sd < 1e-9:
        return np.zeros_like(x)
    return (x - x.mean()) / sd


class PolicyRetriever:
    """Hybrid retriever over a loaded :class:`KnowledgeIndex`. Thread-safe; no per-query state."""

    def __init__(
        self,
        index: KnowledgeIndex,
        embeddings: VectorEmbeddings,
        city_aliases: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``city_aliases``: other names of a city at home ({"苏州": ["Suzhou", "昆山"]}, the office directory's),
        so a city's notice is also named by them."""
        self.index = index
        self.embeddings = embeddings
        self.analyzer = index.analyzer
        jieba = self.analyzer._jieba
        self._freq = jieba.FREQ
        self._total = float(jieba.total)
        self._measure_texts = [f"{m.section}{m.text}" for m in index.measures]
        self._topic_texts = [
            f"{index.doc_by_slug[m.doc].topic}{t}" for m, t in zip(index.measures, self._measure_texts, strict=True)
        ]
        self._sentence_rows: list[list[int]] = [[] for _ in index.measures]
        for c in index.chunks:
            if c.kind == "sentence":
                self._sentence_rows[index.measure_row[c.measure_id]].append(c.row)
        # a retired notice stays in the index for the record but is never ranked
        self._retired = np.array(
            [getattr(index.doc_by_slug[m.doc], "status", "current") == "retired" for m in index.measures], dtype=bool
        )
        self._live_docs = {m.doc for m, retired in zip(index.measures, self._retired, strict=True) if not retired}
        self._corpus_text = "\n".join(
            t for t, retired in zip(self._measure_texts, self._retired, strict=True) if not retired
        )
        self._example_steers = [
            not self.analyzer.asks_for_office(self.analyzer.normalize(e.question)) for e in index.examples
        ]
        self._example_texts = [self.analyzer.normalize(e.question) for e in index.examples]
        self._with_examples = {mid for e in index.examples for mid in e.measures}
        # what names each notice: its years (date, 文号) and 文号 number, for "2019年那个通知", "117号文"
        self._doc_keys = {d.slug: _document_keys(d.date_iso, d.doc_number) for d in index.documents}
        self._doc_rows = np.array([m.doc for m in index.measures])
        # the notices each clause cites by 文号 ("原《…》（苏人社发〔2019〕117号）同时废止")
        by_number = {(y, n): slug for slug, (years, numbers) in self._doc_keys.items() for y in years for n in numbers}
        self._cites = [
            {by_number[k] for k in _DOC_NUMBER.findall(m.text) if k in by_number} - {m.doc} for m in index.measures
        ]
        self._about_document = np.array([getattr(m, "about_document", False) for m in index.measures], dtype=bool)
        self._superseded = np.array(
            [getattr(index.doc_by_slug[m.doc], "status", "current") == "superseded" for m in index.measures], dtype=bool
        )
        home = tuple(self.analyzer.lexicon.home_region)
        self._home = home
        # a notice of another province is named by its region (湖北省, 湖北) or a city in it (武汉)
        parents = self.analyzer.lexicon.region_parents
        self._region_names: dict[str, set[str]] = {}
        self._local_names: dict[str, set[str]] = {}
        for d in index.documents:
            region = getattr(d, "region", "") or ""
            if not region or any(h in region for h in home) or getattr(d, "region_level", "") == "national":
                continue
            short = region.removesuffix("省").removesuffix("市").removesuffix("自治区")
            names = {region, short, *(city for city, parent in parents.items() if parent in (region, short))}
            for name in names:
                if len(name) >= 2:
                    self._region_names.setdefault(name, set()).add(d.slug)
        # a notice of a city at home (苏州市) is named by that city: it is the most specific for a citizen there
        for d in index.documents:
            region = getattr(d, "region", "") or ""
            if getattr(d, "region_level", "") == "city" and region and not any(h == region for h in home):
                short = region.removesuffix("市")
                aliases = [a.lower() for a in (city_aliases or {}).get(short, ())]
                for name in {region, short, *aliases}:
                    if len(name) >= 2:
                        self._local_names.setdefault(name, set()).add(d.slug)
        self._place_terms = {*home, *self._region_names, *self._local_names, *parents, *parents.values()}
        self._city_rows = np.array(
            [getattr(index.doc_by_slug[m.doc], "region_level", "") == "city" for m in index.measures], dtype=bool
        )
        self._national = {d.slug for d in index.documents if getattr(d, "region_level", "") == "national"}
        self._foreign = {
            d.slug for d in index.documents if (r := getattr(d, "region", "") or "") and not any(h in r for h in home)
        }

    # --- word statistics --------------------------------------------------------------------------
    def weight(self, token: str) -> float:
        """Rarity of a word in general Chinese (jieba's dictionary): 稳岗返还 >> 工作.

        Words in Latin script have no such statistics: one the lexicon maps (subsidy -> 补贴) counts as a
        common content word, any other as a weak one, so unknown English filler cannot dominate.
        """
        if not _CJK_CHAR.search(token):
            return LATIN_MAPPED_WEIGHT if self.analyzer.expansions(token) else LATIN_UNMAPPED_WEIGHT
        f = self._freq.get(token, 0)
        if f:
            return math.log((self._total + 1) / (f + 1))
        chars = [math.log((self._total + 1) / (self._freq.get(c, 0) + 1)) for c in token]
        return sum(chars) / len(chars)

    def _covered(self, q: QueryAnalysis, token: str, text: str) -> bool:
        ta = self.analyzer
        return (
            token in text
            or any(x in text for x in ta.expansions(token) + ta.typo_repairs(token))
            # a repair found across word boundaries (苏长 + 卡 -> 苏畅卡) covers the words it overlaps
            or any(r in text and set(r) & set(token) for r in q.repairs)
        )

    def coverage(self, q: QueryAnalysis, text: str) -> tuple[float, float]:
        """(share of the question's own words, rarity-weighted, that ``text`` contains directly or via the
        lexicon; rarity share of the most telling word it lacks)."""
        if q.latin:
            # English words have no rarity statistics and rarely appear in the notice: what the lexicon
            # recognised (its Chinese terms) is the evidence, and unrecognised words simply add nothing
            # a place it names (Jiangsu -> 江苏) says where the citizen is, not what is asked, as a city does in
            # a Chinese question: "maternity leave in Jiangsu" recognises nothing of its topic
            terms = tuple(t for t in q.expansions + q.repairs if t not in self._place_terms)
            if not terms:
                return 0.0, 1.0
            share = sum(1 for t in terms if t in text) / len(terms)
            return share, 0.0 if share else 1.0
        tokens = q.tokens
        if not tokens:
            return 0.0, 0.0
        covered = 0.0
        missing = 0.0
        total = 0.0
        for t in tokens:
            w = self.weight(t)
            if self._covered(q, t, text):
                covered += w
            elif any(t in p or p in t for p in q.places):
                continue  # a city the citizen is in (我们在常州) counts when printed, is not missed when not
            else:
                missing = max(missing, w)
            total += w
        total = total or 1.0
        return covered / total, missing / total

    # --- search -----------------------------------------------------------------------------------
    def query_vector(self, q: QueryAnalysis) -> np.ndarray:
        return self.embeddings.query_vector(q.search_text)

    def chunk_similarities(self, vector: np.ndarray) -> np.ndarray:
        """Cosine of ``vector`` to every chunk, indexed by chunk row."""
        n = self.index.dense.ntotal
        dist, rows = self.index.dense.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), n)
        sims = np.empty(n, dtype=np.float32)
        sims[rows[0]] = dist[0]
        return sims

    def rank(
        self,
        q: QueryAnalysis,
        *,
        vector: np.ndarray | None = None,
        context: QueryAnalysis | None = None,
        context_vector: np.ndarray | None = None,
        prior: Mapping[str, float] | None = None,
        pin: str | None = None,
        limit: int = 3,
    ) -> Ranking:
        """Rank clauses for an analysed question.

        ``context``/``context_vector`` (the previous question and its embedding) and ``prior`` ({clause id:
        weight in 0..1}) carry a conversation: the previous question's ranking (damped by ``CONTEXT_WEIGHT``)
        and the prior lift the clause in play so a thin follow-up ("每年选多少人？") stays on topic, while a
        clear new topic still wins on its own evidence. ``pin`` (a clause id) puts that clause first.
        """
        ki = self.index
        if not ki.measures or (not q.search_text and pin is None):
            return Ranking(q, ())
        vec = self.query_vector(q) if vector is None else vector
        fused, sentence_cos, measure_cos, bm25, sims = self._fused(q, vec)
        example_in, example_steer, example_out = self._examples(q, vec)
        fused = fused + EXAMPLE_WEIGHT * np.clip((example_steer - EXAMPLE_FLOOR) / EXAMPLE_SPAN, 0.0, 1.0)
        ctx_sims = None
        asked = vec  # what the question asks, for the residual: a thin follow-up asks it of the previous topic
        if context is not None and context_vector is not None:
            ctx_fused, _, _, _, _ = self._fused(context, context_vector)
            fused = fused + CONTEXT_WEIGHT * ctx_fused
            mixed = np.asarray(vec) + np.asarray(context_vector)
            mixed = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
            ctx_sims = self.chunk_similarities(mixed)
            if q.followup_shaped:
                asked = mixed
        regional = self._regional_documents(q)
        if regional:
            fused = fused + REGION_WEIGHT * np.isin(self._doc_rows, sorted(regional))
        local = self._local_documents(q)
        if local:
            fused = fused + REGION_WEIGHT * np.isin(self._doc_rows, sorted(local))
        placed = bool(q.places) or bool(local) or (context is not None and bool(context.places))
        if not placed and self._city_rows.any():
            fused = fused - CITY_PENALTY * self._city_rows
        elsewhere = self._other_city_documents(q)
        if elsewhere:
            # a city's notice does not apply in another city the citizen names: "我没有苏州户口…" is not
            # answered by 南京's "没有南京户口…"
            fused = np.where(np.isin(self._doc_rows, sorted(elsewhere)), -np.inf, fused)
        named = self._named_documents(q)
        if named:
            # the named notice's clauses, and any clause that cites it by 文号 (the article that repeals it);
            # a notice named by year and document word ("under the 2019 rules") chooses that notice, as a city
            # chooses its own: another notice's clause on the same topic does not answer for it
            cited = np.array([bool(c & named) for c in self._cites], dtype=bool)
            chosen = np.isin(self._doc_rows, sorted(named)) | cited
            fused = np.where(chosen, fused + DOCUMENT_REF_WEIGHT, -np.inf)
        fused = fused - SUPERSEDED_PENALTY * (self._superseded & ~np.isin(self._doc_rows, sorted(named)))
        if self._about_document.any():
            fused = fused - ABOUT_DOCUMENT_PENALTY * self._administrative(q)
        if prior:
            boost = PRIOR_WEIGHT * (REFERS_BACK_FACTOR if q.refers_back else 1.0)
            for mid, weight in prior.items():
                if mid in ki.measure_row:
                    fused[ki.measure_row[mid]] += boost * weight
            if q.refers_back and not q.own_topic:
                # "那需要什么条件": nothing but an ask about "that" - the clause in play comes first (unlike a
                # pin, the decision still checks that it provides what is asked)
                for mid, weight in prior.items():
                    if weight >= 1.0 and mid in ki.measure_row:
                        fused[ki.measure_row[mid]] = float(fused.max()) + 1.0
        if pin is not None and pin in ki.measure_row:
            fused[ki.measure_row[pin]] = float(fused.max()) + 1.0
        fused = np.where(self._retired, -np.inf, fused)
        order = [int(i) for i in np.argsort(-fused) if np.isfinite(fused[i])][: max(limit, 1)]

        def hit(mi: int) -> MeasureHit:
            dense = float(sentence_cos[mi])
            if ctx_sims is not None and q.followup_shaped:
                dense = max(dense, float(max((ctx_sims[r] for r in self._sentence_rows[mi]), default=dense)))
            cov, missing = self.coverage(q, self._measure_texts[mi])
            evidence = self._evidence(q, mi, sims)
            probe = MeasureHit(ki.measures[mi], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, evidence)
            quote_cov, _ = self.coverage(q, "".join(e.text for e in probe.quote()))
            return MeasureHit(
                measure=ki.measures[mi],
                score=float(fused[mi]),
                dense=dense,
                measure_cos=float(measure_cos[mi]),
                lexical=float(bm25[mi]),
                coverage=cov,
                uncovered=missing,
                quote_coverage=quote_cov,
                evidence=evidence,
                example=float(example_in[mi]),
                residual=self._residual(asked, evidence),
                topic_coverage=self.coverage(q, self._topic_texts[mi])[0],
            )

        hits = [hit(mi) for mi in order]
        siblings = tuple(hit(mi) for mi in self._siblings(q, order, sims)) if hits and pin is None else ()
        live = sentence_cos[~self._retired] if (~self._retired).any() else sentence_cos
        lex = bm25[~self._retired] if (~self._retired).any() else bm25
        top_id = hits[0].measure.id if hits else None
        in_corpus, absent_top = self.coverage(q, self._corpus_text)
        return Ranking(
            query=q,
            hits=tuple(hits),
            dense_mean=float(live.mean()),
            dense_std=float(live.std()),
            dense_median=float(np.median(live)),
            lexical_mean=float(lex.mean()),
            lexical_std=float(lex.std()),
            example_out=example_out,
            examples=top_id in self._with_examples,
            foreign=bool(hits) and hits[0].measure.doc in self._foreign,
            foreign_for_home=bool(hits)
            and hits[0].measure.doc in self._foreign
            and (bool(q.places) or any(h in q.normalized for h in self._home))
            and hits[0].measure.doc not in regional,
            national=bool(hits) and hits[0].measure.doc in self._national,
            local=frozenset(self._city_documents_named(q)),
            siblings=siblings,
            pinned=pin is not None and top_id == pin,
            continuing=bool(prior) and top_id in (prior or {}),
            absent=1.0 - in_corpus if (q.tokens or q.latin) else 0.0,
            absent_top=absent_top,
        )

    def _region_words(self, q: QueryAnalysis) -> set[str]:
        return {name for name in self._region_names if name in q.normalized}

    def _city_documents_named(self, q: QueryAnalysis) -> set[str]:
        """The notices of a city at home whose city (or one of its aliases) the question names."""
        return {slug for name, slugs in self._local_names.items() if name in q.normalized for slug in slugs}

    def _other_city_documents(self, q: QueryAnalysis) -> set[str]:
        """The notices of a city at home when the question names places and none of them is that city."""
        if not q.places:
            return set()
        return {slug for slugs in self._local_names.values() for slug in slugs} - self._city_documents_named(q)

    def _local_documents(self, q: QueryAnalysis) -> set[str]:
        """The notices of a city at home the question names (我在苏州…), when they are some of the notices."""
        return self._singled_out(self._city_documents_named(q))

    def _regional_documents(self, q: QueryAnalysis) -> set[str]:
        """The notices of another province the question names by region (when it singles out some)."""
        return self._singled_out({slug for name in self._region_words(q) for slug in self._region_names[name]})

    def _siblings(self, q: QueryAnalysis, order: Sequence[int], sims: np.ndarray) -> list[int]:
        """Rows of the other clauses of the first clause's notice whose heading or text prints every strict
        detail the question asks (at most ``SIBLINGS``): in a 办事指南 the topic is in the title and each heading
        holds one detail, so "多久能办完" is printed by a clause that names no topic. The clause whose sentence
        printing the detail is closest to the question comes first (the time limit "自受理之日起15个工作日内办结",
        not the condition "正常经营1年以上")."""
        asked = q.strict_asks
        if not asked or not order:
            return []
        doc = self.index.measures[order[0]].doc
        rows = [
            int(i)
            for i in np.flatnonzero(self._doc_rows == doc)
            if int(i) != order[0] and all(a.provided_by(self._measure_texts[i]) for a in asked)
        ]

        def closest(i: int) -> float:
            chunks = self.index.chunks
            providing = [r for r in self._sentence_rows[i] if all(a.provided_by(chunks[r].text) for a in asked)]
            return max((float(sims[r]) for r in providing or self._sentence_rows[i]), default=-1.0)

        return sorted(rows, key=lambda i: -closest(i))[:SIBLINGS]

    def _administrative(self, q: QueryAnalysis) -> np.ndarray:
        """The clauses about the document itself that do not print what the question asks for."""
        out = self._about_document.copy()
        if q.intent is not None:
            for i in np.flatnonzero(out):
                if any(q.intent.provided_by(s) for s in self.index.measures[i].sentences):
                    out[i] = False
        return out

    def _named_documents(self, q: QueryAnalysis) -> set[str]:
        """The live notices the question names, when it singles out some of them (not all)."""
        if not q.document_refs:
            return set()
        return self._singled_out(
            {
                slug
                for slug, (years, numbers) in self._doc_keys.items()
                if any(y in years and (not n or n in numbers) for y, n in q.document_refs)
            }
        )

    def _singled_out(self, slugs: set[str]) -> set[str]:
        """The live notices among ``slugs`` when they are some of the live notices, not all (nothing to steer)."""
        chosen = slugs & self._live_docs
        return chosen if chosen != self._live_docs else set()

    def _residual(self, vec: np.ndarray, evidence: tuple[Evidence, ...]) -> np.ndarray | None:
        if not evidence or evidence[0].row < 0:
            return None
        sentence = self.index.dense.reconstruct(evidence[0].row)
        return np.asarray(vec, dtype=np.float32).reshape(-1) - sentence

    def _examples(self, q: QueryAnalysis, vec: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray, float]:
        """Per clause, the cosine of the closest in-scope example question (all of them, and those allowed to
        steer the ranking); and the cosine of the closest out-of-scope example. The question itself, when it is
        in the bank, is skipped: an example never vouches for itself."""
        ki = self.index
        best = np.zeros(len(ki.measures))
        steer = np.zeros(len(ki.measures))
        worst_out = 0.0
        if ki.example_dense is None or not ki.examples:
            return best, steer, worst_out
        dist, rows = ki.example_dense.search(
            np.asarray(vec, dtype=np.float32).reshape(1, -1), min(k + 1, len(ki.examples))
        )
        for sim, row in zip(dist[0], rows[0], strict=True):
            if row < 0 or self._example_texts[int(row)] == q.normalized:
                continue
            example = ki.examples[int(row)]
            if not example.measures:
                worst_out = max(worst_out, float(sim))
            for mid in example.measures:
                if mid not in ki.measure_row:
                    continue
                mi = ki.measure_row[mid]
                best[mi] = max(best[mi], float(sim))
                if self._example_steers[int(row)]:
                    steer[mi] = max(steer[mi], float(sim))
        return best, steer, worst_out

    def _fused(
        self, q: QueryAnalysis, vec: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Fused z-scores per clause, plus best-sentence and clause cosines, BM25 and chunk similarities."""
        ki = self.index
        n_measures = len(ki.measures)
        sims = self.chunk_similarities(vec)
        measure_cos = np.full(n_measures, -1.0)
        sentence_cos = np.full(n_measures, -1.0)
        is_sentence = ki.chunk_is_sentence
        rows = ki.chunk_measure
        measure_cos[rows[~is_sentence]] = sims[~is_sentence]
        np.maximum.at(sentence_cos, rows[is_sentence], sims[is_sentence])
        # a region word that names a notice chooses the notice (see _regional_documents), not its clauses
        # so is a place the citizen names (我在苏州): it says where they are, and a city's name printed in a
        # clause ("苏州就业"小程序) is no evidence that the clause is what they ask about
        regions = self._region_words(q) if self._region_names else set()
        regions |= {t for t in q.search_tokens if any(t in p for p in q.places)}
        tokens = [t for t in q.search_tokens if t not in regions]
        bm25 = np.asarray(ki.bm25.get_scores(tokens), dtype=np.float64) if tokens else np.zeros(n_measures)
        wm, ws, wb = FUSION_WEIGHTS
        fused = wm * _z(measure_cos) + ws * _z(sentence_cos) + (wb * _z(bm25) if bm25.max() > 0 else 0.0)
        return fused, sentence_cos, measure_cos, bm25, sims

    def _evidence(self, q: QueryAnalysis, measure_row: int, sims: np.ndarray) -> tuple[Evidence, ...]:
        """Sentences of a clause ranked by dense cosine + rarity-weighted word overlap (+ the kind of detail the
        question asks for, or any figure when it asks for a number)."""
        chunks = self.index.chunks
        tokens = set(q.search_tokens)
        weights = {t: self.weight(t) for t in tokens}
        total = sum(weights.values()) or 1.0
        out = []
        for row in self._sentence_rows[measure_row]:
            c = chunks[row]
            overlap = sum(w for t, w in weights.items() if t in c.text) / total
            score = float(sims[row]) * 4.0 + overlap
            if (q.intent is not None and q.intent.provided_by(c.text)) or (q.wants_figure and _DIGIT.search(c.text)):
                score += 0.3
            out.append(Evidence(sentence=c.sentence or 0, text=c.text, score=score, row=row))
        out.sort(key=lambda e: -e.score)
        return tuple(out)
