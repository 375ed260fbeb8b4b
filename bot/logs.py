"""Logging: one handler for the app's own events (``policybot.*``), JSON lines by default, and an access log
that never keeps personal data.

* ``policybot.*`` loggers get a stderr handler at ``POLICYBOT_LOG_LEVEL`` (python-json-logger's formatter
  for ``POLICYBOT_LOG_FORMAT=json``: one object per line with time, level, logger, message and, for errors,
  the traceback), so "reindex done" or "storage broken" is always written, under uvicorn or anywhere else.
* :class:`AccessLogPrivacy` rewrites uvicorn's access lines: ``/wechat/*`` without its query string (WeChat
  puts the sender's openid, the signature and the nonce there), every other URL through
  :func:`bot.privacy.mask_pii`. openids appear in our own lines only as :func:`bot.auth.user_tag` hashes.

Example (one line of ``POLICYBOT_LOG_FORMAT=json``)::

    {"asctime": "2026-12-01 20:00:00,000", "levelname": "INFO", "name": "policybot.service",
     "message": "reindex done in 12.3s: index gen-20261201T200000-ab12cd"}
"""

from __future__ import annotations

import logging
import sys
from typing import Any
from urllib.parse import unquote

from pythonjsonlogger.json import JsonFormatter

from bot.config import Settings
from bot.privacy import mask_pii

APP_LOGGER = "policybot"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact_url(path: str) -> str:
    """What the access log may keep of a request target."""
    base, sep, _query = path.partition("?")
    if base.startswith("/wechat/") or base == "/wechat":
        return base
    target = base + sep + _query
    decoded = unquote(target)
    cleaned = mask_pii(decoded)
    return cleaned if cleaned != decoded else target


class AccessLogPrivacy(logging.Filter):
    """uvicorn's access record args are ``(client, method, full_path, http_version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True


_access_filter = AccessLogPrivacy()


def formatter(settings: Settings) -> logging.Formatter:
    if settings.log_format == "json":
        return JsonFormatter(JSON_FIELDS, json_ensure_ascii=False)
    return logging.Formatter(TEXT_FORMAT)


def install_logging(settings: Settings) -> None:
    """Idempotent: a handler for ``policybot.*`` (unless one is configured) and the access-log filter."""
    app_logger = logging.getLogger(APP_LOGGER)
    app_logger.setLevel(settings.log_level.upper())
    if not any(getattr(h, "_policybot", False) for h in app_logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(settings))
        handler._policybot = True  # type: ignore[attr-defined]
        app_logger.addHandler(handler)
        app_logger.propagate = False
    access = logging.getLogger("uvicorn.access")
    if _access_filter not in access.filters:
        access.addFilter(_access_filter)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """``log_config`` for uvicorn: its own lines in the same format, the access log filtered."""
    fmt: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": JSON_FIELDS, "json_ensure_ascii": False}
        if settings.log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": fmt},
        "filters": {"access_privacy": {"()": "bot.logs.AccessLogPrivacy"}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stdout",
                "filters": ["access_privacy"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "INFO" if settings.access_log else "WARNING",
                "propagate": False,
            },
        },
    }
