"""WeChat channels: the server-API client, Official Account crypto and channel, and their HTTP routes.

* :mod:`bot.wechat.client` - ``api.weixin.qq.com``: login, access tokens, msgSecCheck, customer-service push;
* :mod:`bot.wechat.crypto` - Official Account signatures and safe-mode AES;
* :mod:`bot.wechat.mp` - the Official Account message channel (passive replies, retries, late pushes);
* :mod:`bot.wechat.routes` - ``/v1/auth/wechat`` and ``/wechat/mp``.

Only the client's names are re-exported here: importing the package must not import the service (the
channel modules depend on it, and the service depends on the client).
"""

from bot.wechat.client import (
    SEC_CHECK_MAX_CHARS,
    SecCheck,
    Suggest,
    WeChatBusy,
    WeChatClient,
    WeChatCodeInvalid,
    WeChatError,
    WeChatNotConfigured,
    WeChatRateLimited,
    WeChatUserBlocked,
    WxLogin,
)

__all__ = [
    "SEC_CHECK_MAX_CHARS",
    "SecCheck",
    "Suggest",
    "WeChatBusy",
    "WeChatClient",
    "WeChatCodeInvalid",
    "WeChatError",
    "WeChatNotConfigured",
    "WeChatRateLimited",
    "WeChatUserBlocked",
    "WxLogin",
]
