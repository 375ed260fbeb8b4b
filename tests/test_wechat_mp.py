"""Official Account (公众号) channel over the real app: URL check, passive replies, retries, safe mode, late push.

Signatures and safe-mode ciphertexts are computed here independently (hashlib and ``cryptography``
primitives), and checked against published vectors: the DESIGN.md URL-check vector and the safe-mode
vectors of wechatpy's test-suite (WeCom uses the same AES scheme and message signature).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml.ElementTree import fromstring
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.answer import Answer
from bot.api import create_app
from bot.auth import user_tag
from bot.config import Settings
from bot.errors import ConfigError
from bot.service import ChatService
from bot.wechat.crypto import MessageCrypto, MessageInvalid, signature
from bot.wechat.mp import fit_bytes, format_reply, load_mp_texts, text_reply_xml
from tests.fakes.wechat_app import MINI_APPID, MINI_SECRET, MP_TOKEN, OA_APPID, OA_SECRET, PUBLIC_BASE, wechat_settings
from tests.fakes.wechat_server import FakeWeChat, FakeWeChatServer

QUESTION = "我们厂搞智能化改造，多出来的工人怎么安置？"
GH = "gh_0123456789ab"  # the Official Account's own id (ToUserName of inbound messages)
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SOURCE = Path(__file__).resolve().parents[1] / "index" / "sources" / "jiangsu-hrss-digital-economy-measures-2022.txt"
CLAUSE_7 = next(line for line in SOURCE.read_text(encoding="utf-8").splitlines() if line.startswith("(七)"))
LINK = f"{PUBLIC_BASE}/measures.html#jiangsu-hrss-digital-economy-measures-2022-7"


# --- independent helpers (no bot code) ------------------------------------------------------------------
def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_encrypt(key43: str, appid: str, message: str, random16: bytes) -> str:
    key = base64.b64decode(key43 + "=")
    body = message.encode()
    plain = random16 + struct.pack(">I", len(body)) + body + appid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def aes_decrypt(key43: str, encrypted: str) -> tuple[str, str]:
    key = base64.b64decode(key43 + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    plain = plain[: -plain[-1]]
    (n,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + n].decode(), plain[20 + n :].decode()


def inbound(openid: str, content: str = QUESTION, msg_id: str = "", msg_type: str = "text", event: str = "") -> str:
    parts = [
        f"<ToUserName><![CDATA[{GH}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{int(time.time())}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    if msg_type == "text":
        parts.append(f"<Content><![CDATA[{content}]]></Content>")
    if event:
        parts.append(f"<Event><![CDATA[{event}]]></Event>")
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id or str(time.time_ns())}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def signed(token: str = MP_TOKEN, ts: int | None = None, **extra: str) -> dict[str, str]:
    """Query parameters of a signed push: a fresh nonce each time, like WeChat's."""
    timestamp, nonce = str(int(time.time()) if ts is None else ts), str(secrets.randbelow(10**9))
    return {"signature": sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}


def reply_fields(xml: str) -> dict[str, str]:
    root = fromstring(xml)
    return {child.tag: child.text or "" for child in root}


# --- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(FakeWeChat(apps={MINI_APPID: MINI_SECRET, OA_APPID: OA_SECRET})) as server:
        yield server


def mp_settings(base: Settings, root: Path, fake: FakeWeChatServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"mp_token": SecretStr(MP_TOKEN), "mp_appid": OA_APPID, "mp_secret": SecretStr(OA_SECRET)}
    values.update(overrides)
    return wechat_settings(base, root, fake.url, **values)


def client_for(settings: Settings, service: ChatService) -> TestClient:
    return TestClient(create_app(settings, service=service))


@pytest.fixture
def settings(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer) -> Settings:
    return mp_settings(full_settings, tmp_path, fake)


@pytest.fixture
def client(settings: Settings, bot: Any) -> Iterator[TestClient]:
    with client_for(settings, ChatService(settings, bot=bot)) as c:
        yield c


def post(client: TestClient, xml: str, **params: str) -> Any:
    return client.post("/wechat/mp", params=params or signed(), content=xml.encode())


def ask(client: TestClient, openid: str, content: str = QUESTION, msg_id: str = "") -> dict[str, str]:
    r = post(client, inbound(openid, content, msg_id))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return reply_fields(r.text)


# --- URL check ------------------------------------------------------------------------------------------
def test_signature_known_vector() -> None:
    assert signature("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    assert sha1_sorted("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_url_check_echoes_echostr(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any) -> None:
    s = mp_settings(full_settings, tmp_path, fake, mp_token=SecretStr("AAAAA"))
    with client_for(s, ChatService(s, bot=bot)) as c:
        params = {**signed("AAAAA"), "echostr": "7190917312590478932"}
        r = c.get("/wechat/mp", params=params)
        assert r.status_code == 200
        assert r.text == "7190917312590478932"
        assert r.headers["content-type"].startswith("text/plain")
        bad = c.get("/wechat/mp", params={**params, "nonce": params["nonce"] + "1"})
        assert bad.status_code == 403
        assert bad.json()["code"] == "invalid_signature"
        assert c.get("/wechat/mp").status_code == 403
        # the published vector is signed correctly but is from 2024: outside the window
        old = {
            "signature": "899cf89e464efb63f54ddac96b0a0a235f53aa78",
            "timestamp": "1714037059",
            "nonce": "486452656",
            "echostr": "7190917312590478932",
        }
        assert c.get("/wechat/mp", params=old).json()["code"] == "request_expired"


def test_channel_off_without_token(full_settings: Settings, tmp_path: Path, bot: Any) -> None:
    s = full_settings.model_copy(update={"db_path": tmp_path / "db.sqlite3"})
    with client_for(s, ChatService(s, bot=bot)) as c:
        r = c.get("/wechat/mp", params={"echostr": "x"})
        assert r.status_code == 404
        assert r.json()["code"] == "wechat_not_configured"


# --- passive replies ------------------------------------------------------------------------------------
def test_text_message_gets_a_passive_text_reply(client: TestClient) -> None:
    reply = ask(client, "o-oa-alice")
    assert reply["ToUserName"] == "o-oa-alice" and reply["FromUserName"] == GH  # swapped
    assert reply["MsgType"] == "text"
    assert abs(int(reply["CreateTime"]) - time.time()) < 10
    content = reply["Content"]
    lead, offices, where, link = content.split("\n")  # the lead, one line of offices, where to go, the link
    assert lead.startswith("文件写明：") and lead.endswith("（第（七）条）")
    assert lead.removeprefix("文件写明：").removesuffix("（第（七）条）") in CLAUSE_7  # the measure's words, verbatim
    assert offices == "【责任单位】就业处、就管中心、职介中心、各设区市人力资源社会保障局"  # short names, as printed
    assert "12333" in where and link.endswith(LINK)
    assert len(content.encode("utf-8")) <= 700  # a chat bubble, far under WeChat's 2048 bytes


def test_signature_is_checked_on_messages(client: TestClient) -> None:
    r = post(client, inbound("o-oa-x"), **{**signed(), "signature": "0" * 40})
    assert r.status_code == 403
    assert r.json()["code"] == "invalid_signature"


# --- replays ---------------------------------------------------------------------------------------------
def test_a_logged_signed_url_cannot_be_replayed_as_anyone(client: TestClient, settings: Settings) -> None:
    """In plain mode the signature covers token, timestamp and nonce, not the body: replaying one signed URL
    with other bodies (another sender, another question) is refused; WeChat's own retry (same body) is not."""
    params = signed(openid="o-oa-victim")
    body = inbound("o-oa-victim", msg_id="9001").encode()
    first = client.post("/wechat/mp", params=params, content=body)
    assert first.status_code == 200
    retry = client.post("/wechat/mp", params=params, content=body)
    assert retry.status_code == 200 and reply_fields(retry.text)["Content"] == reply_fields(first.text)["Content"]
    refused = 0
    for k in range(150):
        forged = inbound("o-oa-victim", content=f"稳岗返还{k}", msg_id=str(10_000 + k))
        r = client.post("/wechat/mp", params=params, content=forged.encode())
        refused += r.status_code == 403 and r.json()["code"] == "request_replayed"
    assert refused == 150
    other = client.post("/wechat/mp", params=signed(openid="o-oa-victim"), content=inbound("o-oa-mallory").encode())
    assert other.status_code == 403  # the URL's openid is not the sender
    conn = sqlite3.connect(settings.db_path)
    (n,) = conn.execute("SELECT COUNT(*) FROM messages WHERE user_id = ?", (user_tag("o-oa-victim"),)).fetchone()
    conn.close()
    assert n == 1  # the victim's rate limit was charged once


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_timestamps_outside_the_window_are_refused(client: TestClient, offset: int) -> None:
    r = post(client, inbound("o-oa-late"), **signed(ts=int(time.time()) + offset))
    assert r.status_code == 403 and r.json()["code"] == "request_expired"
    assert post(client, inbound("o-oa-late"), **signed(ts=int(time.time()) - 200)).status_code == 200


def test_session_per_openid(client: TestClient) -> None:
    ask(client, "o-oa-bob")
    follow = ask(client, "o-oa-bob", "我在苏州")["Content"]
    assert "苏州市人力资源和社会保障局" in follow
    other = ask(client, "o-oa-carol", "这个找哪个部门")["Content"]  # no conversation to follow up on
    assert "苏州" not in other


def test_duplicate_msgid_is_answered_once(client: TestClient, settings: Settings) -> None:
    first = ask(client, "o-oa-dup", msg_id="6054768590064713728")
    again = ask(client, "o-oa-dup", msg_id="6054768590064713728")
    assert again["Content"] == first["Content"]
    conn = sqlite3.connect(settings.db_path)
    (n,) = conn.execute("SELECT COUNT(*) FROM messages WHERE user_id = ?", (user_tag("o-oa-dup"),)).fetchone()
    assert n == 1
    ask(client, "o-oa-dup", msg_id="6054768590064713729")  # a new MsgId is a new question
    (n,) = conn.execute("SELECT COUNT(*) FROM messages WHERE user_id = ?", (user_tag("o-oa-dup"),)).fetchone()
    assert n == 2
    conn.close()


def test_subscribe_and_non_text_messages_get_help(client: TestClient) -> None:
    texts = load_mp_texts(Path(__file__).resolve().parents[1] / "prompts" / "wechat.toml")
    welcome = reply_fields(post(client, inbound("o-oa-new", msg_type="event", event="subscribe")).text)
    assert welcome["Content"] == texts["welcome"] and welcome["ToUserName"] == "o-oa-new"
    for kind in ("image", "voice", "location"):
        r = post(client, inbound("o-oa-img", msg_type=kind))
        assert reply_fields(r.text)["Content"] == texts["help"]
    assert reply_fields(post(client, inbound("o-oa-img", "   ")).text)["Content"] == texts["help"]
    for t in (texts["welcome"], texts["help"], texts["error"]):
        assert len(t.encode("utf-8")) < 2048
    r = post(client, inbound("o-oa-new", msg_type="event", event="unsubscribe"))
    assert r.text == "success"


def test_official_account_uses_the_local_filter(client: TestClient, fake: FakeWeChatServer) -> None:
    content = ask(client, "o-oa-risky", "哪里有赌博网站")["Content"]
    assert "无法回答" in content and "12333" in content
    ask(client, "o-oa-risky", QUESTION)
    # msgSecCheck is never called for Official Account openids
    assert not [c for c in fake.fake.sec_checks if c["openid"] == "o-oa-risky"]


def test_errors_become_text_replies(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any) -> None:
    s = mp_settings(full_settings, tmp_path, fake, rate_limit_client="2/minute")
    with client_for(s, ChatService(s, bot=bot)) as c:
        ask(c, "o-oa-busy")
        ask(c, "o-oa-busy", "稳岗返还")
        assert "太频繁" in ask(c, "o-oa-busy", "培训补贴")["Content"]
        assert "太长" in ask(c, "o-oa-long", "补贴" * 400)["Content"]


# --- unsafe XML -----------------------------------------------------------------------------------------
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType>"
    + "<Content>&lol9;</Content></xml>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>'
)


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL, "<xml><unclosed></xml>", "not xml", "<html><body/></html>", ""]
)
def test_unsafe_or_malformed_xml_is_400(client: TestClient, body: str) -> None:
    started = time.perf_counter()
    r = post(client, body)
    assert time.perf_counter() - started < 2.0
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_message"


# --- reply text -----------------------------------------------------------------------------------------
def test_long_replies_are_trimmed_to_2048_bytes_keeping_offices_and_link_and_long_unit_lists_summarised(
    client: TestClient, bot: Any
) -> None:
    texts = load_mp_texts(Path(__file__).resolve().parents[1] / "prompts" / "wechat.toml")
    a: Answer = bot.ask(QUESTION).answer
    long = a.model_copy(update={"lead": "拓宽富余从业人员安置渠道。" * 400})
    text = format_reply(long, texts["reply"], base_url=PUBLIC_BASE, max_bytes=2048)
    assert len(text.encode("utf-8")) <= 2048
    assert "…" in text and LINK in text and "就业处" in text and "第（七）条" in text
    many = a.model_copy(update={"offices": [a.offices[0].model_copy(update={"name": f"处室{k}"}) for k in range(14)]})
    offices_line = format_reply(many, texts["reply"], base_url=PUBLIC_BASE, max_bytes=2048).split("\n")[1]
    assert offices_line == "【责任单位】处室0、处室1、处室2等14个单位"  # summarised; the page lists all
    refusal = a.model_copy(update={"in_scope": False, "citations": [], "answer": "抱歉" * 2000})
    assert len(format_reply(refusal, texts["reply"], base_url="", max_bytes=2048).encode()) <= 2048


def test_fit_bytes_cuts_at_character_boundaries() -> None:
    for limit in range(1, 40):
        out = fit_bytes("人社政策问答" * 5, limit)
        assert len(out.encode("utf-8")) <= max(limit, 3)
        out.encode("utf-8").decode("utf-8")


def test_cdata_terminator_in_content_survives() -> None:
    xml = text_reply_xml("o-a", GH, "a]]>b<c>&d\x01", now=1)
    assert reply_fields(xml)["Content"] == "a]]>b<c>&d"


# --- safe mode ------------------------------------------------------------------------------------------
def test_published_safe_mode_vectors() -> None:
    """wechatpy tests/test_crypto.py (WeCom; same AES-CBC scheme and msg_signature as Official Accounts)."""
    c = MessageCrypto("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
    reply = "\n".join(
        [
            "<xml>",
            "<MsgType><![CDATA[text]]></MsgType>",
            "<Content><![CDATA[test]]></Content>",
            "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>",
            "<ToUserName><![CDATA[messense]]></ToUserName>",
            "<AgentID>1</AgentID>",
            "<CreateTime>1411525903</CreateTime>",
            "</xml>",
        ]
    )
    expected = (
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtOb"
        "vesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
        "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O"
        "5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    )
    assert c.encrypt(reply, random16=b"1234567890123456") == expected
    assert c.sign("1411525903", "461056294", expected) == "407518b7649e86ef23978113f92d27afa9296533"
    inbound_encrypt = (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
        "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIi"
        "OAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvc"
        "cTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
    )
    assert c.sign("1411525903", "461056294", inbound_encrypt) == "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    msg = reply_fields(c.decrypt(inbound_encrypt))
    assert msg["Content"] == "test" and msg["FromUserName"] == "messense"


def test_encryption_matches_an_independent_computation() -> None:
    c = MessageCrypto(MP_TOKEN, AES_KEY, OA_APPID)
    for message in ("", "<xml>短</xml>", "x" * 12, "政策" * 300):
        r16 = bytes(range(16))
        assert c.encrypt(message, random16=r16) == aes_encrypt(AES_KEY, OA_APPID, message, r16)
        assert c.decrypt(aes_encrypt(AES_KEY, OA_APPID, message, b"\xff" * 16)) == message
        assert aes_decrypt(AES_KEY, c.encrypt(message)) == (message, OA_APPID)


def test_crypto_rejects_other_apps_and_garbage() -> None:
    c = MessageCrypto(MP_TOKEN, AES_KEY, OA_APPID)
    with pytest.raises(MessageInvalid):
        c.decrypt(aes_encrypt(AES_KEY, "wx-someone-else", "<xml/>", b"0" * 16))
    for garbage in ("not base64!", base64.b64encode(b"short").decode(), base64.b64encode(b"\0" * 32).decode()):
        with pytest.raises(MessageInvalid):
            c.decrypt(garbage)
    with pytest.raises(ConfigError):
        MessageCrypto(MP_TOKEN, AES_KEY[:-1], OA_APPID)
    with pytest.raises(ConfigError):
        MessageCrypto(MP_TOKEN, AES_KEY, "")


@pytest.fixture
def safe_client(full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any) -> Iterator[TestClient]:
    s = mp_settings(full_settings, tmp_path, fake, mp_encoding_aes_key=SecretStr(AES_KEY))
    with client_for(s, ChatService(s, bot=bot)) as c:
        yield c


def encrypted_post(client: TestClient, plain_xml: str, appid: str = OA_APPID, tamper: bool = False) -> Any:
    encrypt = aes_encrypt(AES_KEY, appid, plain_xml, b"R" * 16)
    params = signed(encrypt_type="aes")
    params["msg_signature"] = sha1_sorted(MP_TOKEN, params["timestamp"], params["nonce"], encrypt)
    if tamper:
        params["msg_signature"] = "f" * 40
    body = f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return client.post("/wechat/mp", params=params, content=body.encode())


def test_safe_mode_round_trip(safe_client: TestClient) -> None:
    r = encrypted_post(safe_client, inbound("o-oa-safe"))
    assert r.status_code == 200
    envelope = reply_fields(r.text)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["MsgSignature"] == sha1_sorted(
        MP_TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
    )
    inner, appid = aes_decrypt(AES_KEY, envelope["Encrypt"])
    assert appid == OA_APPID
    reply = reply_fields(inner)
    assert reply["ToUserName"] == "o-oa-safe" and reply["FromUserName"] == GH
    assert "第（七）条" in reply["Content"] and LINK in reply["Content"]


def test_safe_mode_rejects_bad_signature_and_foreign_appid(safe_client: TestClient) -> None:
    r = encrypted_post(safe_client, inbound("o-oa-safe2"), tamper=True)
    assert r.status_code == 403
    r = encrypted_post(safe_client, inbound("o-oa-safe2"), appid="wx-someone-else")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_message"


def test_safe_mode_refuses_unencrypted_messages(safe_client: TestClient) -> None:
    """With a key configured only the encrypted form counts: its msg_signature covers the body."""
    r = post(safe_client, inbound("o-oa-plain"))
    assert r.status_code == 403 and r.json()["code"] == "invalid_signature"


def test_encrypted_message_without_key_is_400(client: TestClient) -> None:
    r = encrypted_post(client, inbound("o-oa-nokey"))
    assert r.status_code == 400


# --- late answers ------------------------------------------------------------------------------------------
class SlowService(ChatService):
    """The real service, slowed down: the answer is ready only after the reply deadline."""

    delay = 2.0

    def ask(self, *args: Any, **kwargs: Any) -> Answer:
        time.sleep(self.delay)
        return super().ask(*args, **kwargs)


def test_slow_answer_replies_success_then_pushes_once(
    full_settings: Settings, tmp_path: Path, fake: FakeWeChatServer, bot: Any
) -> None:
    s = mp_settings(full_settings, tmp_path, fake, mp_reply_deadline_seconds=0.2)
    with client_for(s, SlowService(s, bot=bot)) as c:
        started = time.perf_counter()
        r = post(c, inbound("o-oa-slow", msg_id="777"))
        assert time.perf_counter() - started < 1.5
        assert r.status_code == 200 and r.text == "success"
        retry = post(c, inbound("o-oa-slow", msg_id="777"))  # WeChat's retry of the same message
        assert retry.text == "success"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(p["touser"] == "o-oa-slow" for p in fake.fake.pushes):
            time.sleep(0.05)
        time.sleep(1.5)  # room for a (wrong) second push
    pushes = [p for p in fake.fake.pushes if p["touser"] == "o-oa-slow"]
    assert len(pushes) == 1
    push = pushes[0]
    assert push["appid"] == OA_APPID and push["msgtype"] == "text"
    assert "第（七）条" in push["text"]["content"] and LINK in push["text"]["content"]
    assert len(push["text"]["content"].encode("utf-8")) <= 2048
