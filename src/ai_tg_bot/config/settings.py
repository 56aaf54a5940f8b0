"""Settings: read from `.env`, then the environment; invalid values stop start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ai_tg_bot.config.mcp import parse_mcp_servers
from ai_tg_bot.config.values import comma_items as comma_items
from ai_tg_bot.config.values import parse_packs, parse_presets, parse_prices, split_ids
from ai_tg_bot.errors import StartupError
from ai_tg_bot.languages import SHIPPED, normalize

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./data/bot.db"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer concisely and accurately, "
    "in the language the user writes in."
)
MAX_HISTORY_LIMIT = 1000
_TOKEN_PATTERN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
_SUPPORTED_URL_PREFIXES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class SettingsError(StartupError):
    """A setting is missing or invalid; the message names it in one line."""


# A deep link's payload is at most 64 of A-Z a-z 0-9 _ -, and "role_" takes five.
class Settings(BaseSettings):
    """Every knob of the bot. Names are the environment variables, case-insensitive."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Storage
    database_url: str = DEFAULT_SQLITE_URL
    db_echo: bool = False
    # PostgreSQL behind pgbouncer in transaction pooling mode: asyncpg's prepared
    # statement caches off (pgbouncer 1.18 cannot carry them between connections).
    db_pgbouncer: bool = False
    # Migrations need a session of their own (an advisory lock): a direct URL when
    # DATABASE_URL goes through pgbouncer. Empty: DATABASE_URL.
    migration_database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=10, ge=0, le=1000)
    default_max_history_messages: int = Field(default=50, ge=1, le=MAX_HISTORY_LIMIT)
    default_system_prompt: str = DEFAULT_SYSTEM_PROMPT
    auto_migrate: bool = True
    # The interface language for users whose Telegram language is not shipped (en, ru).
    default_language: str = "en"

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    stream_edit_interval_seconds: float = Field(default=1.0, ge=0.05, le=60)
    # Final answers as Telegram rich messages (tables, formulas): auto falls back to
    # entity messages where a server or chat refuses them, and remembers it.
    rich_messages: Literal["auto", "on", "off"] = "auto"
    # Webhook mode (several instances behind a reverse proxy); unset WEBHOOK_URL: polling.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/telegram/webhook"
    webhook_listen_host: str = "0.0.0.0"
    webhook_listen_port: int = Field(default=8080, ge=1, le=65535)
    # Processes serving that port together (SO_REUSEPORT), supervised by `ai-tg-bot run`.
    webhook_workers: int = Field(default=1, ge=1, le=64)
    health_port: int | None = Field(default=None, ge=1, le=65535)
    # Polling start with a webhook registered: delete it and poll (true), or stop (false).
    polling_takeover: bool = False
    # Answer in groups and supergroups (when addressed); off: private chats only.
    group_chats: bool = False
    # The history a group's (or forum topic's) shared conversation keeps.
    group_max_history_messages: int = Field(default=30, ge=1, le=MAX_HISTORY_LIMIT)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How long a turn lease outlives its last heartbeat (renewed every third of it): a
    # question stranded by a crash is taken over within about this plus half of it.
    turn_lease_seconds: float = Field(default=20.0, ge=1, le=3600)

    # LLM
    openai_api_key: SecretStr = SecretStr("")
    openai_base_url: str | None = None
    llm_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    # Longest answer, in tokens, sent with every chat request; 0: no limit is sent.
    llm_max_tokens: int = Field(default=4096, ge=0, le=10_000_000)
    # The request field carrying it: OpenAI's newer models take only max_completion_tokens,
    # many other servers only max_tokens. auto: by server, switching once if refused.
    llm_max_tokens_param: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"

    # Photos and voice messages
    # Models that can see images (comma-separated); a photo for any other is refused.
    vision_models: Annotated[list[str], NoDecode] = []
    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1, le=1024**3)
    # Send every photo still in the context again on each turn (else: a text stand-in).
    resend_images: bool = False
    transcription_model: str = Field(default="whisper-1", min_length=1)
    max_voice_bytes: int = Field(default=20 * 1024 * 1024, ge=1, le=1024**3)

    # Documents, images and voice out, tools (issue 20). A document over the byte cap is
    # refused before download; its text is cut at the character cap, with a note.
    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=1024**3)
    max_document_chars: int = Field(default=50_000, ge=100, le=500_000)
    # /image through /images/generations; unset: no /image.
    image_model: str | None = Field(default=None, min_length=1)
    image_size: str = Field(default="1024x1024", pattern=r"^(auto|\d{2,5}x\d{2,5})$")
    daily_image_limit: int = Field(default=10, ge=0, le=1_000_000)
    # /voice on: answers also spoken through /audio/speech; unset: no /voice.
    tts_model: str | None = Field(default=None, min_length=1)
    tts_voice: str = Field(default="alloy", min_length=1, max_length=64)
    # MCP servers whose tools the model may call: "name=command or URL;name2=...", or
    # JSON (mcp_config.py has every form). An http(s) URL is streamable HTTP, else a
    # command run over stdio. Empty: no tools.
    mcp_servers: Annotated[dict[str, str], NoDecode] = {}
    # Tool rounds per answer, and the deadline for all of an answer's tool calls.
    mcp_max_rounds: int = Field(default=5, ge=1, le=50)
    mcp_deadline_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Who may use the tools when no per-user allow list is set (/tools): admins, everyone.
    mcp_tools_for: Literal["admins", "everyone"] = "admins"

    # Access and per-user limits (each user's own value lives in user_settings; NULL there
    # means the default here)
    allowed_user_ids: Annotated[list[int], NoDecode] = []
    admin_user_ids: Annotated[list[int], NoDecode] = []
    daily_message_limit: int = Field(default=0, ge=0, le=1_000_000)
    max_context_chars: int = Field(default=60_000, ge=0, le=100_000_000)
    rate_limit_per_minute: int = Field(default=20, ge=0, le=10_000)
    system_prompt_max_chars: int = Field(default=4000, ge=1, le=1_000_000)
    llm_models: Annotated[list[str], NoDecode] = []

    # Token budgets and Stars top-ups (ADR 0015). Prompt + completion tokens per UTC day
    # and per UTC month (each user's own in user_settings; NULL: these); 0: unlimited.
    daily_token_limit: int = Field(default=0, ge=0, le=10**15)
    monthly_token_limit: int = Field(default=0, ge=0, le=10**15)
    # Prices per million tokens, input and output, in US dollars:
    # "gpt-4o-mini:0.15:0.6,gpt-4o:2.5:10". /stats and /user show costs for these.
    model_prices: Annotated[dict[str, tuple[float, float]], NoDecode] = {}
    # Token packs sold for Telegram Stars, "stars:tokens,...": "50:100000,200:500000".
    # Empty: no /buy.
    stars_packs: Annotated[list[tuple[int, int]], NoDecode] = []
    # Where a paying user gets help (/paysupport), e.g. "@operator" or an e-mail address.
    payment_support: str | None = None
    # Where a payment or refund that could not be recorded yet (database down) waits on
    # disk until it is (also across a restart). Empty: `data/payments-spool` beside the
    # SQLite default's file, so a volume mounted on data/ keeps it.
    payments_spool_dir: str | None = None

    # Role presets a link can start a conversation with: t.me/<bot>?start=role_<name>.
    # JSON: {"pirate": "You are a pirate.", "tutor": "You are a patient maths tutor."}
    role_presets: Annotated[dict[str, str], NoDecode] = {}

    # Conversations (ADR 0014). A message outside any topic after this many minutes of
    # silence opens a new conversation; 0: never (the user decides with /new).
    conversation_idle_minutes: int = Field(default=0, ge=0, le=525_600)
    # A model that names each conversation after its first answer; unset: the title is
    # the first question, shortened.
    title_model: str | None = Field(default=None, min_length=1)

    # Privacy: soft-deleted messages are purged this many days after deletion; None: never.
    retention_days: int | None = Field(default=None, ge=1, le=100_000)

    log_level: str = "INFO"
    # text: one "time level logger: message key=value ..." line a record; json: one JSON
    # object a line with the same fields (for Loki, Elasticsearch, CloudWatch...).
    log_format: Literal["text", "json"] = "text"
    # The HTTP clients' one INFO line per request (URL included, redacted); off: WARNING.
    log_http_requests: bool = False

    @field_validator("allowed_user_ids", "admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        return split_ids(value)

    @field_validator("llm_models", "vision_models", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        return comma_items(value) if isinstance(value, str) else value

    @field_validator("model_prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: Any) -> Any:
        return parse_prices(value)

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _parse_mcp_servers(cls, value: Any) -> Any:
        return parse_mcp_servers(value) if isinstance(value, str) else value

    @field_validator("role_presets", mode="before")
    @classmethod
    def _parse_presets(cls, value: Any) -> Any:
        return parse_presets(value)

    @field_validator("stars_packs", mode="before")
    @classmethod
    def _parse_packs(cls, value: Any) -> Any:
        return parse_packs(value)

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            # Without it anyone who finds the URL could post fake updates.
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _workers_need_a_webhook(self) -> Settings:
        if self.webhook_workers > 1 and not self.webhook_url:
            raise ValueError(
                f"WEBHOOK_WORKERS={self.webhook_workers} needs webhook mode (set WEBHOOK_URL): "
                "only one process may poll a bot's updates"
            )
        return self

    @model_validator(mode="after")
    def _default_model_is_allowed(self) -> Settings:
        # LLM_MODELS empty means just LLM_MODEL; otherwise LLM_MODEL is the first choice.
        if not self.llm_models:
            self.llm_models = [self.llm_model]
        elif self.llm_model not in self.llm_models:
            self.llm_models = [self.llm_model, *self.llm_models]
        return self

    @field_validator("migration_database_url", mode="before")
    @classmethod
    def _empty_migration_url(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_SUPPORTED_URL_PREFIXES):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]}://...)"
            )
        return value

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _check_token(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if not isinstance(raw, str) or not _TOKEN_PATTERN.match(raw.strip()):
            raise ValueError("malformed: expected '<digits>:<secret>' as given by @BotFather")
        return raw.strip()

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _check_secret(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw):
            return None
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", raw):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return raw

    @field_validator(
        "health_port",
        "retention_days",
        "title_model",
        "payment_support",
        "payments_spool_dir",
        "image_model",
        "tts_model",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `HEALTH_PORT=` in .env means "not set", as for every other optional setting.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("telegram_api_url", "openai_base_url", "webhook_url", mode="before")
    @classmethod
    def _check_http_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("default_system_prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if not value.strip():
            return "en"  # `DEFAULT_LANGUAGE=` in .env: the default, as for other settings
        code = normalize(value)
        if code is None:
            raise ValueError(f"must be one of the shipped languages: {', '.join(SHIPPED)}")
        return code

    @field_validator("llm_max_tokens_param", "rich_messages", "log_format", mode="before")
    @classmethod
    def _lower_choice(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def migration_url(self) -> str:
        """Where migrations run: MIGRATION_DATABASE_URL, else DATABASE_URL."""
        return self.migration_database_url or self.database_url

    def is_admin(self, user_id: int) -> bool:
        """Whether the user may run the operator's commands."""
        return user_id in self.admin_user_ids

    def is_allowed(self, user_id: int) -> bool:
        """ALLOWED_USER_IDS empty means everyone; admins are always allowed."""
        return (
            not self.allowed_user_ids or user_id in self.allowed_user_ids or self.is_admin(user_id)
        )

    @property
    def payments_spool(self) -> Path:
        """PAYMENTS_SPOOL_DIR, else `payments-spool` beside the SQLite file (the SQLite
        default's `data/` with PostgreSQL): where money updates wait for the database."""
        if self.payments_spool_dir:
            return Path(self.payments_spool_dir)
        url = self.database_url if self.database_url.startswith("sqlite") else DEFAULT_SQLITE_URL
        path = url.partition(":///")[2].partition("?")[0]
        if not path or path == ":memory:":
            path = DEFAULT_SQLITE_URL.partition(":///")[2]
        return Path(path).parent / "payments-spool"

    @property
    def webhook_endpoint(self) -> str | None:
        """The full URL Telegram posts updates to, or None in polling mode."""
        return f"{self.webhook_url}{self.webhook_path}" if self.webhook_url else None


def load_settings(**overrides: Any) -> Settings:
    """Build Settings; every invalid setting is reported at once, each naming the setting
    (one problem: one line; several: the count, then one line each)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{f'setting {name}' if name else 'settings'}: {message}")
        if len(problems) == 1:
            raise SettingsError(f"Invalid {problems[0]}") from None
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise SettingsError(f"{len(problems)} invalid settings:\n{listed}") from None
