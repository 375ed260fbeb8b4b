"""Official Account message signatures and safe-mode (加密模式) encryption.

* URL and push signature: ``sha1("".join(sorted([token, timestamp, nonce])))``; in safe mode the message
  signature adds the ``Encrypt`` text: ``sha1(sorted([token, timestamp, nonce, encrypt]))``.
* Safe mode: AES-256-CBC, key = ``b64decode(EncodingAESKey + "=")`` (32 bytes), IV = ``key[:16]``, PKCS#7
  padding to 32-byte blocks; plaintext = 16 random bytes + 4-byte big-endian length + message + AppID.

Uses the ``cryptography`` primitives directly; comparisons are constant-time.

Example::

    >>> c = MessageCrypto("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx1234567890abcdef")
    >>> c.decrypt(c.encrypt("<xml>…</xml>"))
    '<xml>…</xml>'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.errors import ConfigError, PolicyBotError

BLOCK_BITS = 256  # WeChat pads to 32 bytes, not AES's 16


class SignatureInvalid(PolicyBotError):
    code = "invalid_signature"
    status = 403


class RequestExpired(SignatureInvalid):
    """The signed timestamp is outside the accepted window: an old (replayed) or forged request."""

    code = "request_expired"


class RequestReplayed(SignatureInvalid):
    """The same signed timestamp and nonce came again with another body."""

    code = "request_replayed"


class MessageInvalid(PolicyBotError):
    code = "invalid_message"
    status = 400


def signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the lexicographically sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(expected: str, *parts: str) -> None:
    """Raise :class:`SignatureInvalid` unless ``expected`` is the signature of ``parts``."""
    if not expected or not hmac.compare_digest(signature(*parts).encode(), expected.strip().lower().encode()):
        raise SignatureInvalid("签名校验失败")


class MessageCrypto:
    """Encrypt and decrypt message bodies of one Official Account (token, EncodingAESKey, AppID)."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ConfigError("EncodingAESKey must be 43 characters", detail=f"got {len(encoding_aes_key)}")
        if not appid:
            raise ConfigError("safe mode needs the Official Account AppID (POLICYBOT_MP_APPID)")
        try:
            self.key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ConfigError("EncodingAESKey is not valid base64") from exc
        if len(self.key) != 32:
            raise ConfigError("EncodingAESKey does not decode to 32 bytes")
        self.token = token
        self.appid = appid

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self.token, timestamp, nonce, encrypt)

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        """Base64 ciphertext of ``message``; ``random16`` only for known-answer tests."""
        prefix = random16 if random16 is not None else os.urandom(16)
        if len(prefix) != 16:
            raise ValueError("random16 must be 16 bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.appid.encode("utf-8")
        padder = padding.PKCS7(BLOCK_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(padded) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The message inside ``encrypted``; :class:`MessageInvalid` for anything malformed or another AppID."""
        try:
            raw = base64.b64decode(encrypted.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MessageInvalid("消息格式不正确", detail="Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise MessageInvalid("消息格式不正确", detail="ciphertext length")
        dec = self._cipher().decryptor()
        padded = dec.update(raw) + dec.finalize()
        try:
            unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError as exc:
            raise MessageInvalid("消息格式不正确", detail="padding") from exc
        if len(plain) < 20:
            raise MessageInvalid("消息格式不正确", detail="too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise MessageInvalid("消息格式不正确", detail="length field")
        body, appid = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(appid, self.appid.encode("utf-8")):
            raise MessageInvalid("消息不属于本公众号", detail="appid mismatch")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessageInvalid("消息格式不正确", detail="not UTF-8") from exc
