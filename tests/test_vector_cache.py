"""The vector cache: a rebuild embeds only text it has not embedded before, example questions in batches.

Embedding calls are counted by a thin wrapper around the real embedder (it forwards every call)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.config import REPO_ROOT, Settings
from bot.embeddings import VectorEmbeddings
from bot.index import build_index, load_index, read_manifest
from bot.vector_cache import KEEP_BUILDS, VectorCache

from .conftest import DATA, MINI, make_settings


class Counting(VectorEmbeddings):
    """Forwards to the real embedder and records what it was asked to embed."""

    def __init__(self, inner: VectorEmbeddings) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.passages: list[str] = []
        self.queries: list[str] = []
        self.query_batches = 0
        self.single_queries = 0

    def passage_matrix(self, texts: list[str]) -> np.ndarray:
        self.passages += texts
        return self.inner.passage_matrix(texts)

    def query_matrix(self, texts: list[str]) -> np.ndarray:
        self.queries += texts
        self.query_batches += 1
        return self.inner.query_matrix(texts)

    def query_vector(self, text: str) -> np.ndarray:
        self.single_queries += 1
        return self.inner.query_vector(text)

    def reset(self) -> None:
        self.passages, self.queries, self.query_batches, self.single_queries = [], [], 0, 0


@pytest.fixture
def cold(tmp_path: Path) -> Settings:
    """The mini notice, its own empty cache and a small bank of 70 out-of-scope example questions."""
    settings = make_settings(tmp_path, [MINI], vector_cache_dir=tmp_path / "vectors")
    lines = [ln for ln in (REPO_ROOT / "index" / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    bank = [ln for ln in lines if json.loads(ln)["measures"] == []][:70]
    (settings.index_dir / "examples.jsonl").write_text("\n".join(bank) + "\n", encoding="utf-8")
    return settings


def test_a_second_build_embeds_nothing(cold: Settings, embeddings: VectorEmbeddings) -> None:
    counting = Counting(embeddings)
    first = read_manifest(build_index(cold, counting))
    assert len(counting.passages) == len(set(counting.passages)) == first.embedded - len(counting.queries) > 0
    assert len(counting.queries) == first.n_examples == 70
    assert counting.single_queries == 0 and counting.query_batches == 2  # 64 + 6: batches, not one by one
    counting.reset()
    second = read_manifest(build_index(cold, counting))
    assert (counting.passages, counting.queries, counting.single_queries) == ([], [], 0)
    assert (second.embedded, second.cached) == (0, first.embedded + first.cached)


def test_a_new_notice_embeds_only_its_own_text(cold: Settings, embeddings: VectorEmbeddings) -> None:
    counting = Counting(embeddings)
    gen = build_index(cold, counting)
    before = {json.loads(ln)["text"] for ln in (gen / "chunks.jsonl").read_text(encoding="utf-8").splitlines()}
    shutil.copy(DATA / "notices" / "js-skills-subsidy-2019.txt", cold.sources_path)
    counting.reset()
    gen = build_index(cold, counting)
    after = {json.loads(ln)["text"] for ln in (gen / "chunks.jsonl").read_text(encoding="utf-8").splitlines()}
    assert set(counting.passages) == after - before and len(counting.passages) == len(after - before)
    assert len(counting.queries) < 70  # the bank is cached; only questions whose analysed text changed, if any


def test_cached_vectors_are_the_embedders(cold: Settings, embeddings: VectorEmbeddings) -> None:
    build_index(cold, embeddings)
    build_index(cold, embeddings)  # every vector from the cache now
    ki = load_index(cold, embeddings)
    rows = [0, len(ki.chunks) // 2, len(ki.chunks) - 1]
    fresh = embeddings.passage_matrix([ki.chunks[r].text for r in rows])
    np.testing.assert_allclose(np.vstack([ki.dense.reconstruct(r) for r in rows]), fresh, atol=1e-6)


def test_unused_vectors_are_pruned_and_models_kept_apart(tmp_path: Path, embeddings: VectorEmbeddings) -> None:
    texts = ["稳岗返还", "技能提升补贴"]
    with VectorCache.open(tmp_path, embeddings.model_id, embeddings.dim) as cache:
        cache.embed("passage", texts, embeddings.passage_matrix)
        assert cache.stats.embedded == 2
    for _ in range(KEEP_BUILDS):  # builds that use only the first text
        with VectorCache.open(tmp_path, embeddings.model_id, embeddings.dim) as cache:
            cache.embed("passage", texts[:1], embeddings.passage_matrix)
            assert (cache.stats.cached, cache.stats.embedded) == (1, 0)
    with VectorCache.open(tmp_path, embeddings.model_id, embeddings.dim) as cache:
        cache.embed("passage", texts, embeddings.passage_matrix)
        assert (cache.stats.cached, cache.stats.embedded) == (1, 1)  # the unused one was dropped
        cache.embed("query", texts[:1], embeddings.query_matrix)
        assert cache.stats.embedded == 2  # a query is not the same vector as a passage
    other = VectorCache.path_for(tmp_path, "sentence-transformers:other")
    assert other != VectorCache.path_for(tmp_path, embeddings.model_id)


def test_a_corrupt_cache_is_rebuilt_not_fatal(cold: Settings, embeddings: VectorEmbeddings) -> None:
    build_index(cold, embeddings)
    path = VectorCache.path_for(cold.vector_cache_path, embeddings.model_id)
    path.write_bytes(b"this is not a sqlite database" * 100)
    manifest = read_manifest(build_index(cold, embeddings))
    assert manifest.embedded > 0 and manifest.cached == 0
    assert read_manifest(build_index(cold, embeddings)).embedded == 0
