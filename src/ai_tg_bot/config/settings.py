"""Settings: read from `.env`, then the environment; invalid values stop start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ai_tg_bot.config.groups import DEFAULT_SQLITE_URL as DEFAULT_SQLITE_URL
from ai_tg_bot.config.groups import DEFAULT_SYSTEM_PROMPT as DEFAULT_SYSTEM_PROMPT
from ai_tg_bot.config.groups import MAX_HISTORY_LIMIT as MAX_HISTORY_LIMIT
from ai_tg_bot.config.groups import (
    AccessSettings,
    ModelSettings,
    StorageSettings,
    TelegramSettings,
)
from ai_tg_bot.config.mcp import parse_mcp_servers
from ai_tg_bot.config.values import comma_items as comma_items
from ai_tg_bot.config.values import (
    parse_packs,
    parse_plans,
    parse_presets,
    parse_prices,
    split_ids,
)
from ai_tg_bot.errors import StartupError
from ai_tg_bot.languages import SHIPPED, normalize

_TOKEN_PATTERN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
_SUPPORTED_URL_PREFIXES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class SettingsError(StartupError):
    """A setting is missing or invalid; the message names it in one line."""


# A deep link's payload is at most 64 of A-Z a-z 0-9 _ -, and "role_" takes five.
class Settings(AccessSettings, ModelSettings, TelegramSettings, StorageSettings):
    """Every knob of the bot, one flat object (the groups are in `groups`). Names are the
    environment variables, case-insensitive."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Conversations (ADR 0014). A message outside any topic after this many minutes of
    # silence opens a new conversation; 0: never (the user decides with /new).
    conversation_idle_minutes: int = Field(default=0, ge=0, le=525_600)
    # A model that names each conversation after its first answer; unset: the title is
    # the first question, shortened.
    title_model: str | None = Field(default=None, min_length=1)
    # Memory (issue 31): facts kept per user (the oldest go first), and whether the model
    # may add them itself with a `remember` tool. A model that keeps a rolling summary of
    # what trimming took out of a conversation's window; unset: trimmed is forgotten.
    memory_max_facts: int = Field(default=50, ge=1, le=1000)
    memory_tool: bool = False
    summary_model: str | None = Field(default=None, min_length=1)

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

    @field_validator("subscription_plans", mode="before")
    @classmethod
    def _parse_plans(cls, value: Any) -> Any:
        return parse_plans(value)

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
    def _webapp_needs_a_server(self) -> Settings:
        if self.webapp_url and not (self.webhook_url or self.health_port):
            raise ValueError(
                "WEBAPP_URL needs the bot's web server to serve /app: webhook mode "
                "(WEBHOOK_URL) or HEALTH_PORT when polling"
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
        "summary_model",
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

    @field_validator("webapp_url", mode="before")
    @classmethod
    def _check_webapp_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith("https://"):
            raise ValueError("must be an https:// URL (Telegram opens Mini Apps over https only)")
        return value

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
