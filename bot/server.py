"""Serving: uvicorn with limits, so slow or numerous clients cannot exhaust the process.

* **Header timeout.** uvicorn times out idle keep-alive connections but not a connection that never finishes
  its request headers (slowloris). :class:`TimedH11Protocol` closes a connection whose request line and
  headers have not arrived within ``header_timeout_seconds`` (from connect, or from the end of the previous
  response on a kept-alive connection). The body has its own deadline (``body_timeout_seconds``, 408 from
  :class:`bot.api.BodyLimit`).
* **Concurrency cap.** ``limit_concurrency`` (connections + requests in flight per worker): uvicorn answers
  503 to a *request* past it, but only once its headers are in, so slow clients would still pile up open
  connections; :class:`TimedH11Protocol` also answers a JSON 503 (``Retry-After: 1``) and closes any
  *connection* past the cap as soon as it is accepted. File descriptors stay bounded (keep the cap well under
  ``ulimit -n``) and nothing logs "Too many open files".
* **h11 limits.** ``max_header_bytes`` bounds the request line and headers; ``keep_alive_seconds`` idle time.
* **Logging.** :func:`bot.logs.uvicorn_log_config`: JSON lines, access log without ``/wechat/*`` query strings.

Behind nginx the same limits belong there too (``client_header_timeout``, ``client_body_timeout``,
``limit_conn``); see the deployment guide in the README.

Example::

    >>> serve(get_settings(), host="127.0.0.1", port=8000, workers=1)    # what ``policybot serve`` runs
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.config import Settings, get_settings
from bot.logs import uvicorn_log_config

_BUSY_BODY = json.dumps({"code": "server_busy", "message": "服务繁忙，请稍后再试"}, ensure_ascii=False).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"X-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "
    + str(len(_BUSY_BODY)).encode()
    + b"\r\n\r\n"
    + _BUSY_BODY
)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request line and headers and a connection cap."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.limit_concurrency is not None and len(self.connections) > self.limit_concurrency:
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(get_settings().header_timeout_seconds, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # no request under way on this connection: nothing to answer

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_header_timer()  # headers are in; the body has its own deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings, *, host: str, port: int, workers: int) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for the factory ``bot.api:create_app``."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "http": TimedH11Protocol,
        "limit_concurrency": settings.limit_concurrency,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # the app reads X-Forwarded-For itself (bot.api.client_address, POLICYBOT_TRUSTED_PROXIES): uvicorn's
        # own handling would trust any X-Forwarded-For from loopback and take its left-most entry
        "proxy_headers": False,
        "log_config": uvicorn_log_config(settings),
        "access_log": settings.access_log,
        "server_header": False,
    }


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run("bot.api:create_app", **uvicorn_options(settings, host=host, port=port, workers=workers))
