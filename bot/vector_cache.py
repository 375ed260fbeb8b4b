"""Vector cache: content-addressed embeddings, so a rebuild embeds only text it has not seen.

One SQLite file per embedding model in the cache directory (``POLICYBOT_VECTOR_CACHE_DIR``, default
``<build_dir>/vectors``)::

    <cache_dir>/<sha256(model_id)[:16]>.sqlite3
        vectors(key BLOB PRIMARY KEY, vector BLOB, used INTEGER)   # key = sha256(model_id \\0 kind \\0 text)
        meta(name TEXT PRIMARY KEY, value TEXT)                    # model_id, dim, build serial

``kind`` is ``passage`` (clauses and their sentences) or ``query`` (the example bank): e5 embeds the same text
differently as a query and as a passage. Vectors are float32 bytes (no pickle). Each build stamps the rows it
used; rows no build used in the last ``KEEP_BUILDS`` builds are dropped, so the file tracks the corpus.

Example::

    >>> with VectorCache.open(settings.vector_cache_path, emb.model_id, emb.dim) as cache:
    ...     matrix = cache.embed("passage", texts, emb.passage_matrix)
    ...     cache.stats.embedded     # how many texts were new
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import IndexCorrupt

log = logging.getLogger("policybot.vector_cache")

KEEP_BUILDS = 3
BATCH = 64


@dataclass
class CacheStats:
    cached: int = 0
    embedded: int = 0


class VectorCache:
    def __init__(self, conn: sqlite3.Connection, model_id: str, dim: int, serial: int) -> None:
        self._conn = conn
        self.model_id = model_id
        self.dim = dim
        self.serial = serial
        self.stats = CacheStats()

    @staticmethod
    def path_for(cache_dir: Path, model_id: str) -> Path:
        return cache_dir / f"{hashlib.sha256(model_id.encode()).hexdigest()[:16]}.sqlite3"

    @classmethod
    @contextmanager
    def open(cls, cache_dir: Path, model_id: str, dim: int) -> Iterator[VectorCache]:
        """Open (creating) the model's cache for one build; commits and prunes on success."""
        path = cls.path_for(cache_dir, model_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn, meta = cls._connect(path)
        except sqlite3.DatabaseError as exc:
            # only a cache: start afresh rather than fail the build
            log.warning("vector cache %s unreadable (%s); starting an empty one", path, exc)
            path.unlink(missing_ok=True)
            conn, meta = cls._connect(path)
        try:
            if meta and (meta.get("model_id") != model_id or meta.get("dim") != str(dim)):
                conn.execute("DELETE FROM vectors")  # another model wrote here (hash collision or edited file)
            serial = int(meta.get("serial", "0")) + 1
            conn.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [("model_id", model_id), ("dim", str(dim)), ("serial", str(serial))],
            )
            cache = cls(conn, model_id, dim, serial)
            yield cache
            conn.execute("DELETE FROM vectors WHERE used IS NULL OR used <= ?", (serial - KEEP_BUILDS,))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    @staticmethod
    def _connect(path: Path) -> tuple[sqlite3.Connection, dict[str, str]]:
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL, used INTEGER)"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn, meta

    def key(self, kind: str, text: str) -> bytes:
        return hashlib.sha256(f"{self.model_id}\0{kind}\0{text}".encode()).digest()

    def embed(self, kind: str, texts: list[str], embed_batch: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The vectors of ``texts`` in order: cached ones read, the others embedded in batches and stored."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [self.key(kind, t) for t in texts]
        found: dict[bytes, bytes] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk))
        missing: dict[bytes, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in found:
                missing.setdefault(k, t)
        todo = list(missing.items())
        for i in range(0, len(todo), BATCH):
            batch = todo[i : i + BATCH]
            matrix = np.asarray(embed_batch([t for _, t in batch]), dtype=np.float32)
            if matrix.shape != (len(batch), self.dim):
                raise ValueError(f"embedder returned {matrix.shape}, expected ({len(batch)}, {self.dim})")
            rows = [(k, matrix[j].tobytes(), self.serial) for j, (k, _) in enumerate(batch)]
            self._conn.executemany("INSERT OR REPLACE INTO vectors (key, vector, used) VALUES (?, ?, ?)", rows)
            self._conn.commit()  # a killed build keeps what it embedded
            found.update((k, v) for k, v, _ in rows)
        for i, k in enumerate(keys):
            vec = np.frombuffer(found[k], dtype=np.float32)
            if vec.shape != (self.dim,):
                raise IndexCorrupt("向量缓存已损坏", detail=f"vector of {vec.shape} in a {self.dim}-d cache")
            out[i] = vec
        hit = [k for k in dict.fromkeys(keys) if k not in missing]
        for i in range(0, len(hit), 500):
            chunk = hit[i : i + 500]
            marks = ",".join("?" * len(chunk))
            self._conn.execute(f"UPDATE vectors SET used = ? WHERE key IN ({marks})", [self.serial, *chunk])
        self.stats.cached += len(texts) - sum(1 for k in keys if k in missing)
        self.stats.embedded += len(missing)
        return out
