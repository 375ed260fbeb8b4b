"""Official Account (公众号) message channel: URL check, passive replies, retries, safe mode, late answers.

WeChat posts each message as XML and waits 5 seconds, then retries up to 3 times. This channel:

* checks the signature of every request (403 otherwise) and, in safe mode, the ``msg_signature`` over the
  encrypted body and the AppID; with an EncodingAESKey configured, unencrypted messages are refused;
* refuses replays: the signed timestamp must be within ``mp_timestamp_window_seconds`` of now, and a
  timestamp + nonce pair is remembered for that long - the same pair with another body is refused (in plain
  mode the signature does not cover the body, so a logged signed URL would otherwise let anyone post as
  anyone); the same pair with the same body is WeChat's retry and gets the deduplicated reply. The
  ``openid`` query parameter WeChat adds must name the message's sender;
* parses XML with defusedxml (no DTD, no entities: a billion-laughs body is a 400 at once);
* answers text messages through :meth:`ChatService.ask` (user = the sender's openid, one session per openid,
  local content filter) with a passive text reply of at most 2048 bytes: the lead (the notice's words that
  answer), one line of offices, where to go and a link to the measure on the web page (:func:`format_reply`);
* answers other messages and the ``subscribe`` event with a short help text, other events with ``success``;
* deduplicates on ``MsgId`` (or sender + CreateTime): a retry gets the same reply, and the question is
  answered once;
* replies ``success`` when the answer is not ready within ``mp_reply_deadline_seconds`` and pushes it later
  through the customer-service message API.

Example::

    >>> oa = OfficialAccount(settings, service)
    >>> oa.handle(xml_bytes, signature=…, timestamp=…, nonce=…).body      # '<xml><ToUserName>…'
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from cachetools import TTLCache
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.answer import Answer
from bot.auth import user_tag
from bot.config import Settings
from bot.errors import PolicyBotError
from bot.service import ChatService
from bot.shared import RedisMpState
from bot.wechat.client import WeChatClient, WeChatNotConfigured
from bot.wechat.crypto import (
    MessageCrypto,
    MessageInvalid,
    RequestExpired,
    RequestReplayed,
    SignatureInvalid,
    check_signature,
)

log = logging.getLogger("policybot.wechat.mp")

SUCCESS = "success"
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- messages ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboundMessage:
    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    content: str = ""
    msg_id: str = ""
    event: str = ""

    @property
    def dedup_key(self) -> str:
        return self.msg_id or f"{self.from_user}:{self.create_time}"

    @classmethod
    def from_xml(cls, root: Element) -> InboundMessage:
        def text(tag: str) -> str:
            return (root.findtext(tag) or "").strip()

        to_user, from_user, msg_type = text("ToUserName"), text("FromUserName"), text("MsgType").lower()
        if not to_user or not from_user or not msg_type:
            raise MessageInvalid("消息格式不正确", detail="ToUserName/FromUserName/MsgType missing")
        try:
            created = int(text("CreateTime") or 0)
        except ValueError:
            created = 0
        return cls(
            to_user=to_user,
            from_user=from_user,
            create_time=created,
            msg_type=msg_type,
            content=root.findtext("Content") or "",
            msg_id=text("MsgId"),
            event=text("Event").lower(),
        )


@dataclass(frozen=True)
class MpReply:
    body: str
    media_type: str = "text/plain"


def parse_xml(data: bytes | str) -> Element:
    """Parse one WeChat XML document safely; anything else (DTD, entities, malformed) is a 400."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise MessageInvalid("消息格式不正确", detail=type(exc).__name__) from exc
    if root.tag != "xml":
        raise MessageInvalid("消息格式不正确", detail=f"root {root.tag!r}")
    return root


def cdata(text: str) -> str:
    text = _XML_ILLEGAL.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, now: int | None = None) -> str:
    created = int(now if now is not None else time.time())
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def encrypted_reply_xml(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    return (
        f"<xml><Encrypt>{cdata(encrypt)}</Encrypt><MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )


# answers to "这个找哪个部门" / "我在苏州": already short, and what was asked
FOLLOW_UP_REASONS = frozenset({"office", "city"})


# --- reply text ------------------------------------------------------------------------------------------
def fit_bytes(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut at a character boundary so its UTF-8 form is at most ``limit`` bytes."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    room = max(limit - len(ellipsis.encode("utf-8")), 0)
    return raw[:room].decode("utf-8", errors="ignore") + ellipsis


def measure_url(base_url: str, doc: str, measure: int) -> str:
    return f"{base_url.rstrip('/')}/measures.html#{doc}-{measure}" if base_url else ""


def format_reply(
    answer: Answer, templates: dict[str, Any], *, base_url: str, max_bytes: int, hotline_name: str = ""
) -> str:
    """The passive-reply text of an answer, at most ``max_bytes``: short enough for a chat bubble.

    An answered question gets its lead (the notice's own words that answer it) with the measure label, one
    line of the units by their printed short names (a long list summarised: every unit is on the linked
    page), where to go, and the link to the measure on the web page. The lead is what gets shortened. A
    turn that answers a follow-up (which office, which city) or declines is sent as the reply text itself.
    Example (abridged)::

        文件写明：每人至少提供1次职业指导、3次岗位推荐……（第（七）条）
        【责任单位】省人力资源社会保障厅就业处、职介中心等7个单位
        【办理】请到苏州市人力资源和社会保障局办理，或拨打12333。
        详情：https://…/measures.html#…-7
    """
    ell = templates["ellipsis"]
    if not answer.in_scope or not answer.citations or answer.reason in FOLLOW_UP_REASONS:
        return fit_bytes(answer.answer, max_bytes, ell)
    c = answer.citations[0]
    names = [o.name for o in answer.offices]
    limit = int(templates["units_inline"])
    units = (
        "、".join(names)
        if len(names) <= limit
        else templates["units_more"].format(units="、".join(names[: limit - 1]), count=len(names))
    )
    tail = [templates["offices"].format(units=units)] if units else []
    if answer.bureau:
        tail.append(templates["bureau"].format(bureau=answer.bureau, hotline=answer.hotline, hotline_name=hotline_name))
    else:
        tail.append(templates["no_bureau"].format(hotline=answer.hotline, hotline_name=hotline_name))
    url = measure_url(base_url, c.doc, c.measure)
    if url:
        tail.append(templates["link"].format(url=url))
    sep = templates["separator"]
    # a checked LLM explanation (bot/llm.py) takes the lead's place, labelled AI生成
    key = "ai" if answer.ai_generated else "lead"
    body = answer.answer if answer.ai_generated or not answer.lead else answer.lead
    fixed = sep.join([templates[key].format(lead="", label=c.label, cited=c.cited), *tail])
    room = max_bytes - len(fixed.encode("utf-8"))
    lead = fit_bytes(body, room, ell) if room > len(ell.encode("utf-8")) * 4 else ""
    lines = [templates[key].format(lead=lead, label=c.label, cited=c.cited), *tail] if lead else tail
    return fit_bytes(sep.join(lines), max_bytes, ell)


# --- the channel ---------------------------------------------------------------------------------------
@dataclass
class _Pending:
    future: Future[str]
    deferred: bool = False  # the request returned 'success': the answer goes by customer-service push
    lock: threading.Lock = field(default_factory=threading.Lock)


class OfficialAccount:
    """The Official Account endpoint's logic; :mod:`bot.wechat.routes` maps HTTP onto it."""

    def __init__(self, settings: Settings, service: ChatService, client: WeChatClient | None = None) -> None:
        if settings.mp_token is None or not settings.mp_token.get_secret_value():
            raise WeChatNotConfigured("未启用公众号消息接口")
        self.token = settings.mp_token.get_secret_value()
        self.service = service
        self.crypto = (
            MessageCrypto(self.token, settings.mp_encoding_aes_key.get_secret_value(), settings.mp_appid)
            if settings.mp_encoding_aes_key is not None and settings.mp_encoding_aes_key.get_secret_value()
            else None
        )
        if client is None and settings.mp_appid and settings.mp_secret:
            client = WeChatClient.for_official_account(settings)
        self.client = client
        self.deadline = settings.mp_reply_deadline_seconds
        self.max_bytes = settings.mp_reply_max_bytes
        self.base_url = settings.public_base_url
        raw = load_mp_texts(settings.prompts_dir / "wechat.toml")
        self.texts: dict[str, str] = {k: v for k, v in raw.items() if isinstance(v, str)}
        self.reply_templates: dict[str, Any] = dict(raw["reply"])
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mp-answer")
        # with Redis (bot.shared) dedup, delivery, nonces and conversations hold across workers
        self.shared = (
            RedisMpState(service.shared, settings.mp_dedup_seconds, settings.session_ttl_seconds)
            if (service.shared is not None)
            else None
        )
        self._lock = threading.Lock()
        self._recent: TTLCache[str, _Pending] = TTLCache(maxsize=10_000, ttl=settings.mp_dedup_seconds)
        self._sessions: TTLCache[str, str] = TTLCache(maxsize=settings.max_sessions, ttl=settings.session_ttl_seconds)
        self.window = settings.mp_timestamp_window_seconds
        # (timestamp, nonce) -> body digest; a pair outside the window is refused anyway, so 2x window suffices
        self._nonces: TTLCache[tuple[str, str], str] = TTLCache(maxsize=200_000, ttl=2 * self.window)

    # --- freshness -----------------------------------------------------------------------------------
    def check_fresh(self, timestamp: str, nonce: str, body: bytes, now: float | None = None) -> None:
        """Refuse a timestamp outside the window and a timestamp + nonce pair seen with another body."""
        try:
            ts = int(timestamp)
        except ValueError as exc:
            raise SignatureInvalid("签名校验失败", detail="timestamp is not a number") from exc
        if abs((now if now is not None else time.time()) - ts) > self.window:
            raise RequestExpired("请求已过期", detail=f"timestamp {ts} outside ±{self.window}s")
        digest = hashlib.sha256(body).hexdigest()
        if self.shared is not None:
            seen = self.shared.remember_nonce(timestamp, nonce, digest, 2 * self.window)
            if seen is None:
                return
        else:
            with self._lock:
                seen = self._nonces.get((timestamp, nonce))
                if seen is None:
                    self._nonces[(timestamp, nonce)] = digest
                    return
        if seen != digest:
            raise RequestReplayed("请求重复", detail="timestamp and nonce already used with another body")

    # --- URL check ---------------------------------------------------------------------------------
    def verify_url(self, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        check_signature(signature, self.token, timestamp, nonce)
        self.check_fresh(timestamp, nonce, echostr.encode("utf-8"))
        return echostr

    # --- messages ------------------------------------------------------------------------------------
    def handle(
        self,
        body: bytes,
        *,
        signature: str,
        timestamp: str,
        nonce: str,
        encrypt_type: str = "",
        msg_signature: str = "",
        openid: str = "",
    ) -> MpReply:
        check_signature(signature, self.token, timestamp, nonce)
        self.check_fresh(timestamp, nonce, body)
        root = parse_xml(body)
        encrypted = encrypt_type.lower() == "aes"
        if self.crypto is not None and not encrypted:
            # with a key configured the console is in compatible or safe mode: every message is encrypted,
            # and only the encrypted form is signed together with its body
            raise SignatureInvalid("消息未加密", detail="EncodingAESKey configured but encrypt_type is not aes")
        if encrypted:
            if self.crypto is None:
                raise MessageInvalid("未配置消息加解密密钥", detail="encrypt_type=aes without EncodingAESKey")
            encrypt = root.findtext("Encrypt") or ""
            check_signature(msg_signature, self.token, timestamp, nonce, encrypt)
            root = parse_xml(self.crypto.decrypt(encrypt).encode("utf-8"))
        msg = InboundMessage.from_xml(root)
        if openid and not hmac.compare_digest(openid.encode(), msg.from_user.encode()):
            raise SignatureInvalid("签名校验失败", detail="openid in the URL is not the sender")
        text = self._respond(msg)
        if text is None:
            return MpReply(SUCCESS)
        xml = text_reply_xml(msg.from_user, msg.to_user, text)
        if encrypted and self.crypto is not None:
            ts, reply_nonce = str(int(time.time())), str(secrets.randbelow(10**10))
            encrypt = self.crypto.encrypt(xml)
            xml = encrypted_reply_xml(encrypt, self.crypto.sign(ts, reply_nonce, encrypt), ts, reply_nonce)
        return MpReply(xml, "application/xml")

    def _respond(self, msg: InboundMessage) -> str | None:
        """The reply text, or None for ``success`` (no reply now)."""
        if msg.msg_type == "event":
            return self.texts["welcome"] if msg.event == "subscribe" else None
        if msg.msg_type != "text" or not msg.content.strip():
            return self.texts["help"]
        key = msg.dedup_key
        with self._lock:
            pending = self._recent.get(key)
            if pending is None:
                if self.shared is not None and not self.shared.claim(key):
                    pending = None  # another worker is answering this message
                else:
                    pending = _Pending(self._executor.submit(self._answer, msg))
                    self._recent[key] = pending
        if pending is None:
            return self._reply_from_elsewhere(key)
        try:
            text = pending.future.result(timeout=self.deadline)
        except FutureTimeout:
            with pending.lock:
                if not pending.deferred:
                    pending.deferred = True
                    log.info("mp answer for %s late (> %.1fs): will push", user_tag(msg.from_user), self.deadline)
                    pending.future.add_done_callback(lambda f: self._push(msg.from_user, f, key))
            return None
        with pending.lock:
            if pending.deferred:
                return None
        if self.shared is not None and not self.shared.claim_delivery(key, "passive"):
            return None
        return text

    def _reply_from_elsewhere(self, key: str) -> str | None:
        """A retry on this worker of a message another worker answers: its reply when published in time."""
        assert self.shared is not None
        deadline = time.monotonic() + self.deadline
        wait = threading.Event()
        while time.monotonic() < deadline:
            text = self.shared.reply(key)
            if text is not None:
                return text if self.shared.claim_delivery(key, "passive") else None
            wait.wait(0.05)
        return None

    def _answer(self, msg: InboundMessage) -> str:
        text = self._compute_answer(msg)
        if self.shared is not None:
            self.shared.publish_reply(msg.dedup_key, text)
        return text

    def _compute_answer(self, msg: InboundMessage) -> str:
        openid = msg.from_user
        if self.shared is not None:
            session_id = self.shared.session_of(openid)
        else:
            with self._lock:
                session_id = self._sessions.get(openid)
        try:
            answer = self.service.ask(
                msg.content.strip(),
                session_id=session_id,
                city=None,
                client="wechat-mp",
                user=openid,
                channel="official_account",
            )
        except PolicyBotError as exc:
            return exc.message
        except Exception:
            log.exception("mp answer failed for %s", user_tag(openid))
            return self.texts["error"]
        if self.shared is not None:
            self.shared.set_session(openid, answer.session_id)
        else:
            with self._lock:
                self._sessions[openid] = answer.session_id
        return format_reply(
            answer,
            self.reply_templates,
            base_url=self.base_url,
            max_bytes=self.max_bytes,
            hotline_name=self.service.bot.directory.hotline.name,
        )

    def _push(self, openid: str, done: Future[str], key: str = "") -> None:
        """Deliver a late answer through the customer-service message API (runs once per message)."""
        if done.cancelled():
            return
        if self.shared is not None and not self.shared.claim_delivery(key, "push"):
            return  # a retry on another worker already replied passively
        text = done.result() if done.exception() is None else self.texts["error"]
        if self.client is None:
            log.warning("mp answer for %s dropped: no AppID/secret for customer-service push", user_tag(openid))
            return
        try:
            self.client.send_text(openid, text)
            log.info("mp answer pushed to %s", user_tag(openid))
        except PolicyBotError as exc:
            log.warning("mp push to %s failed: %s %s", user_tag(openid), exc.code, exc.detail)
        except Exception:
            log.exception("mp push to %s failed", user_tag(openid))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.client is not None:
            self.client.close()


def load_mp_texts(path: Path) -> dict[str, Any]:
    """The ``[mp]`` table of ``prompts/wechat.toml`` (with its ``reply`` sub-table)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    mp: dict[str, Any] = raw["mp"]
    return mp
