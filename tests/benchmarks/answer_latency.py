"""Benchmark (not a test): in-process answer latency beside the bare query embedding of the same model.

    make bench        # or: .venv/bin/python tests/benchmarks/answer_latency.py [--rounds 3]

Prints index build time, embedding p50/p95, answer p50/p95 with the embedding cache off (every question
embedded afresh), the overhead of answering over embedding, repeated-question latency (cache on) and the
process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.answer import PolicyBot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.embeddings import make_embeddings  # noqa: E402
from bot.index import build_index, load_index  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def questions() -> list[str]:
    qs = []
    for f in (ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT / "tests" / "data" / "calibration.jsonl"):
        if f.exists():
            qs += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return qs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    base = Settings()
    t0 = time.perf_counter()
    emb = make_embeddings(base)
    load_model = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        settings = base.model_copy(update={"build_dir": Path(tmp) / "build", "answer_cache_size": 0})
        t0 = time.perf_counter()
        build_index(settings, emb)
        build = time.perf_counter() - t0
        index = load_index(settings, emb)
    cold = PolicyBot.with_index(settings, index, emb)
    warm = PolicyBot.with_index(settings.model_copy(update={"answer_cache_size": 4096}), index, emb)
    qs = questions()
    for q in qs[:5]:  # warm up code paths
        cold.ask(q)

    embed_ms, answer_ms, repeat_ms = [], [], []
    for _ in range(args.rounds):
        for q in qs:
            text = cold.analyzer.analyze(q).search_text
            t = time.perf_counter()
            emb.query_vector(text)
            embed_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            cold.ask(q)
            answer_ms.append((time.perf_counter() - t) * 1000)
    for q in qs:
        warm.ask(q)
    for q in qs:
        t = time.perf_counter()
        warm.ask(q)
        repeat_ms.append((time.perf_counter() - t) * 1000)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    e50, a50 = statistics.median(embed_ms), statistics.median(answer_ms)
    print(f"questions: {len(qs)} x {args.rounds} rounds; model {emb.model_id}")
    print(f"model load:            {load_model * 1000:8.1f} ms")
    print(f"index build:           {build:8.2f} s  ({index.manifest.n_chunks} chunks)")
    print(f"query embedding:       p50 {e50:6.2f} ms   p95 {pct(embed_ms, 95):6.2f} ms")
    print(f"answer (cache off):    p50 {a50:6.2f} ms   p95 {pct(answer_ms, 95):6.2f} ms")
    print(f"answering overhead:    {100 * (a50 - e50) / e50:+.1f}% over the embedding (p50)")
    print(f"repeated question:     p50 {statistics.median(repeat_ms):6.2f} ms   p95 {pct(repeat_ms, 95):6.2f} ms")
    print(f"peak RSS:              {rss_mb:8.1f} MB")


if __name__ == "__main__":
    main()
