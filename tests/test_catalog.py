"""The knowledge base's lifecycle: ``policybot docs`` as a real subprocess, and the catalog's guarantees
(a bad file changes nothing, a failed rebuild restores the sources, a removed document never comes back)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.catalog import Catalog, KnowledgeBase
from bot.config import Settings
from bot.embeddings import VectorEmbeddings
from bot.errors import DocumentError, DocumentExists, MalformedNotice, UnknownDocument
from bot.index import build_index, current_generation, load_index, read_manifest, staleness

from .conftest import DATA, MINI, make_settings

NOTICES = DATA / "notices"


@pytest.fixture
def kb_settings(tmp_path: Path, embeddings: VectorEmbeddings) -> Settings:
    settings = make_settings(tmp_path, [MINI])
    build_index(settings, embeddings)
    return settings


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "POLICYBOT_INDEX_DIR": str(settings.index_dir),
        "POLICYBOT_VECTOR_CACHE_DIR": str(settings.vector_cache_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "docs", *args], capture_output=True, text=True, env=env, timeout=600
    )


def docx_of(path: Path) -> bytes:
    import docx

    document = docx.Document()
    for line in path.read_text(encoding="utf-8").splitlines():
        document.add_paragraph(line.strip())
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _state(settings: Settings) -> tuple[object, ...]:
    """Everything a change may touch: the sources, the catalog and the served generation."""
    sources = sorted((p.name, p.read_bytes()) for p in settings.sources_path.iterdir() if p.is_file())
    return sources, current_generation(settings.build_path)


def test_docs_check_prints_what_was_found(kb_settings: Settings) -> None:
    out = _run(kb_settings, "check", str(NOTICES / "js-gov-digital-talent-plan-2022.txt"))
    assert out.returncode == 0, out.stderr
    for expected in (
        "省政府办公厅关于印发江苏省数字人才培育行动实施方案（2022—2025年）的通知",
        "苏政办发〔2022〕58号",
        "江苏省人民政府办公厅",
        "2022年9月14日 (2022-09-14)",
        "江苏省 (province)",
        "22 in 3 section(s)",
        "[牵头单位: 省科技厅、省人力资源社会保障厅、省工业和信息化厅]",
        "4 of 22 clauses print no units",
    ):
        assert expected in out.stdout, expected
    assert _state(kb_settings)[0] == sorted((p.name, p.read_bytes()) for p in [kb_settings.sources_path / MINI.name])
    replaced = _run(kb_settings, "check", str(NOTICES / "js-skills-subsidy-2024.txt")).stdout
    marked = [line.split()[:2] for line in replaced.splitlines() if "(about the document itself)" in line]
    assert marked == [["16", "十六、"]]


def test_docs_check_fails_naming_file_and_line(kb_settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(MINI.read_text(encoding="utf-8").replace("(三)为退役", "(二)为退役"), encoding="utf-8")
    out = _run(kb_settings, "check", str(bad))
    assert out.returncode == 2
    assert f"{bad}:13: （二） out of order: expected （三）" in out.stderr and "Traceback" not in out.stderr
    text = _run(kb_settings, "check", "--text", str(bad))
    assert text.returncode == 0 and "   13  (二)为退役" in text.stdout


def test_cli_add_list_retire_remove(kb_settings: Settings, tmp_path: Path, embeddings: VectorEmbeddings) -> None:
    upload = tmp_path / "苏人社发〔2024〕35号.docx"
    upload.write_bytes(docx_of(NOTICES / "js-skills-subsidy-2024.txt"))
    before = current_generation(kb_settings.build_path)

    out = _run(kb_settings, "add", str(upload), "--doc", "js-skills-2024")
    assert out.returncode == 0, out.stderr
    assert "added js-skills-2024" in out.stdout and "16 clauses" in out.stdout
    ki = load_index(kb_settings, embeddings)
    assert ki.path != before and ki.status_of("js-skills-2024") == "current"
    assert len(ki.doc_by_slug["js-skills-2024"].measures) == 16
    entry = json.loads(Catalog.path(kb_settings.sources_path).read_text(encoding="utf-8"))["documents"][
        "js-skills-2024"
    ]
    assert entry["original_name"] == upload.name and entry["status"] == "current" and entry["added"]
    assert (kb_settings.sources_path / "js-skills-2024.txt").read_text(encoding="utf-8").startswith("江苏省人力资源")

    again = _run(kb_settings, "add", str(upload), "--doc", "js-skills-2024")
    assert again.returncode == 2 and "document_exists" in again.stderr

    listed = _run(kb_settings, "list")
    assert listed.returncode == 0
    assert (
        "js-skills-2024" in listed.stdout and "苏人社发〔2024〕35号" in listed.stdout and "mini-notice" in listed.stdout
    )

    retired = _run(kb_settings, "retire", "js-skills-2024")
    assert retired.returncode == 0, retired.stderr
    ki = load_index(kb_settings, embeddings)
    assert ki.status_of("js-skills-2024") == "retired"
    assert "js-skills-2024" in ki.doc_by_slug  # retired documents stay in the index
    assert [d.slug for d in ki.current_documents()] == ["mini-notice"]

    removed = _run(kb_settings, "remove", "js-skills-2024")
    assert removed.returncode == 0, removed.stderr
    ki = load_index(kb_settings, embeddings)
    assert "js-skills-2024" not in ki.doc_by_slug
    assert not (kb_settings.sources_path / "js-skills-2024.txt").exists()
    assert _run(kb_settings, "remove", "js-skills-2024").returncode == 2
    assert staleness(kb_settings) is None


def test_a_removed_document_never_comes_back(kb_settings: Settings, embeddings: VectorEmbeddings) -> None:
    kb = KnowledgeBase(kb_settings)
    rebuild = lambda: build_index(kb_settings, embeddings)  # noqa: E731
    source = NOTICES / "js-skills-subsidy-2019.txt"
    kb.add(source.read_bytes(), source.name, rebuild=rebuild)
    kb.remove("js-skills-subsidy-2019", rebuild=rebuild)
    shutil.copy(source, kb_settings.sources_path)  # a deployment copies its old sources back
    assert staleness(kb_settings) is None  # the removed id is not a source any more
    build_index(kb_settings, embeddings)
    assert "js-skills-subsidy-2019" not in load_index(kb_settings, embeddings).doc_by_slug
    # adding it on purpose brings it back
    kb.add(source.read_bytes(), source.name, rebuild=rebuild, replace_existing=True)
    assert load_index(kb_settings, embeddings).status_of("js-skills-subsidy-2019") == "current"


def test_a_newer_notice_supersedes_the_one_it_repeals(kb_settings: Settings, embeddings: VectorEmbeddings) -> None:
    kb = KnowledgeBase(kb_settings)
    rebuild = lambda: build_index(kb_settings, embeddings)  # noqa: E731
    for name in ("js-skills-subsidy-2019.txt", "js-skills-subsidy-2024.txt"):
        kb.add((NOTICES / name).read_bytes(), name, rebuild=rebuild)
    ki = load_index(kb_settings, embeddings)
    assert ki.status_of("js-skills-subsidy-2019") == "superseded"
    assert ki.status_of("js-skills-subsidy-2024") == "current"
    assert {r.slug: r.document.status_on() for r in kb.records()}["js-skills-subsidy-2019"] == "superseded"


def test_a_bad_file_changes_nothing(kb_settings: Settings, embeddings: VectorEmbeddings, tmp_path: Path) -> None:
    kb = KnowledgeBase(kb_settings)
    before = _state(kb_settings)
    bad = MINI.read_text(encoding="utf-8").replace("二、就业服务", "一、就业服务").encode()
    with pytest.raises(MalformedNotice) as err:
        kb.add(bad, "bad.txt", rebuild=lambda: build_index(kb_settings, embeddings))
    assert (err.value.path, err.value.line) == ("bad.txt", 12)
    with pytest.raises(DocumentError):
        kb.add(b"%PDF-1.4 nonsense", "scan.pdf", rebuild=lambda: build_index(kb_settings, embeddings))
    with pytest.raises(DocumentError, match="文件编号"):
        kb.add(MINI.read_bytes(), "x.txt", slug="../etc", rebuild=lambda: build_index(kb_settings, embeddings))
    assert _state(kb_settings) == before


def test_a_failed_rebuild_restores_the_sources(kb_settings: Settings, embeddings: VectorEmbeddings) -> None:
    kb = KnowledgeBase(kb_settings)
    before = _state(kb_settings)
    source = NOTICES / "suzhou-flexible-employment-2024.txt"
    with pytest.raises(RuntimeError, match="injected"):
        kb.add(
            source.read_bytes(), source.name, rebuild=lambda: build_index(kb_settings, embeddings, fail_after="write")
        )
    assert _state(kb_settings) == before
    assert staleness(kb_settings) is None


def test_replace_rebuilds_with_the_new_text(kb_settings: Settings, embeddings: VectorEmbeddings) -> None:
    kb = KnowledgeBase(kb_settings)
    rebuild = lambda: build_index(kb_settings, embeddings)  # noqa: E731
    text = MINI.read_text(encoding="utf-8")
    with pytest.raises(DocumentExists):
        kb.add(text.encode(), "mini-notice.txt", rebuild=rebuild)
    changed = text.replace("每年培训焊工200人次", "每年培训焊工300人次")
    record = kb.add(changed.encode(), "mini-notice.txt", rebuild=rebuild, replace_existing=True)
    assert record.entry.updated and record.entry.original_name == "mini-notice.txt"
    ki = load_index(kb_settings, embeddings)
    assert "300人次" in ki.measure("mini-notice#1").text
    assert read_manifest(ki.path).n_documents == 1


def test_unknown_and_last_documents(kb_settings: Settings, embeddings: VectorEmbeddings) -> None:
    kb = KnowledgeBase(kb_settings)
    rebuild = lambda: build_index(kb_settings, embeddings)  # noqa: E731
    with pytest.raises(UnknownDocument):
        kb.retire("nope", rebuild=rebuild)
    with pytest.raises(DocumentError, match="最后一个"):
        kb.remove("mini-notice", rebuild=rebuild)
    assert kb.retire("mini-notice", rebuild=rebuild).entry.status == "retired"
    assert kb.records()[0].document.status_on() == "retired"
