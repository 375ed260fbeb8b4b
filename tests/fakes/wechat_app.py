"""Helpers for the WeChat tests: settings pointing at the fake WeChat server, and a TestClient over the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.config import REPO_ROOT, Settings

MINI_APPID = "wx0000000000mini01"
MINI_SECRET = "mini-secret-5f1c0e9d7b3a46e2a8c4"
OA_APPID = "wx00000000000oa001"
OA_SECRET = "oa-secret-9e8d7c6b5a4f3e2d1c0b"
MP_TOKEN = "mp-token-Xy7"
PUBLIC_BASE = "https://hrss.example.cn"
WORDS = REPO_ROOT / "index" / "sensitive_words.txt"


def wechat_settings(base: Settings, root: Path, api_base: str, **overrides: Any) -> Settings:
    """``base`` (the session's indexed settings) with WeChat pointed at ``api_base`` and a private database."""
    values: dict[str, Any] = {
        "wechat_api_base": api_base,
        "wechat_appid": MINI_APPID,
        "wechat_secret": SecretStr(MINI_SECRET),
        "wechat_timeout_seconds": 5.0,  # generous: a loaded 2-core CI box must not turn into a timeout test
        "moderation_timeout_seconds": 5.0,
        "db_path": root / "var" / "policybot.sqlite3",
        "sensitive_words_file": WORDS,
        "public_base_url": PUBLIC_BASE,
        "rate_limit_client": "1000/minute",
        "rate_limit_session": "1000/minute",
    }
    values.update(overrides)
    return base.model_copy(update=values)
