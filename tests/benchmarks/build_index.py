"""Benchmark (not a test): index build time, cold and warm, for 1, 10 and 50 notices.

    make bench-build      # or: .venv/bin/python tests/benchmarks/build_index.py [--sizes 1 10 50]

Corpora: the seed notice; the seed, the nine test notices (tests/data/notices) and copies; copies get a new
document id and a marker in every sentence, so no copy shares a vector with another and a cold build really
embeds everything. For each size, in a fresh directory with an empty vector cache:

* cold: first build (every clause, sentence and the 925 example questions embedded, in batches);
* warm: the same sources again (everything from the cache);
* +1 notice: one more distinct notice added to the warm corpus (only its text embedded).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.embeddings import make_embeddings  # noqa: E402
from bot.index import build_index, read_manifest  # noqa: E402

SEED = ROOT / "index" / "sources" / "jiangsu-hrss-digital-economy-measures-2022.txt"
NOTICES = sorted((ROOT / "tests" / "data" / "notices").glob("*.txt"))
DATA_FILES = ("lexicon.json", "userdict.txt", "stopwords.txt", "offices.json", "examples.jsonl", "notice_terms.json")
_SENTENCE_END = re.compile(r"(?<![）)])。")


def distinct_copy(text: str, k: int) -> str:
    """The notice with a marker before every sentence end: same shape, different text everywhere."""
    return _SENTENCE_END.sub(f"（样本{k}）。", text)


def corpus(n: int, start: int = 0) -> list[tuple[str, str]]:
    """``n`` (file name, text) pairs: the seed, the test notices, then distinct copies of them."""
    originals = [(p.name, p.read_text(encoding="utf-8")) for p in [SEED, *NOTICES]]
    out = originals[:n] if start == 0 else []
    k = max(start, 1)
    while len(out) < n:
        name, text = originals[(k - 1) % len(originals)]
        out.append((f"copy{k:03d}-{name}", distinct_copy(text, k)))
        k += 1
    return out


def settings_for(root: Path, files: list[tuple[str, str]]) -> Settings:
    index_dir = root / "index"
    (index_dir / "sources").mkdir(parents=True)
    for name in DATA_FILES:
        shutil.copy(ROOT / "index" / name, index_dir / name)
    for name, text in files:
        (index_dir / "sources" / name).write_text(text, encoding="utf-8")
    return Settings(index_dir=index_dir, db_path=root / "var" / "db.sqlite3", vector_cache_dir=root / "vectors")


def timed_build(settings: Settings, emb: object) -> tuple[float, int, int, int]:
    t = time.perf_counter()
    m = read_manifest(build_index(settings, emb))  # type: ignore[arg-type]
    return time.perf_counter() - t, m.n_chunks, m.embedded, m.cached


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    args = ap.parse_args()
    emb = make_embeddings(Settings())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        for n in args.sizes:
            settings = settings_for(Path(tmp) / f"n{n}", corpus(n))
            cold = timed_build(settings, emb)
            warm = timed_build(settings, emb)
            name, text = corpus(1, start=900 + n)[0]
            (settings.sources_path / name).write_text(text, encoding="utf-8")
            plus = timed_build(settings, emb)
            rows.append((n, cold, warm, plus))
            print(
                f"{n:>3} notices: cold {cold[0]:6.1f} s ({cold[2]} embedded) | warm {warm[0]:5.1f} s "
                f"({warm[2]} embedded, {warm[3]} cached) | +1 notice {plus[0]:5.1f} s ({plus[2]} embedded)",
                flush=True,
            )
    print()
    print("| notices | chunks | cold build | warm build | warm + 1 new notice |")
    print("|---|---|---|---|---|")
    for n, cold, warm, plus in rows:
        print(
            f"| {n} | {cold[1]} | {cold[0]:.1f} s ({cold[2]} texts embedded) | {warm[0]:.1f} s ({warm[2]} embedded) "
            f"| {plus[0]:.1f} s ({plus[2]} embedded) |"
        )


if __name__ == "__main__":
    main()
