"""The settings, grouped: each group a set of fields (the checks that span them are in
`settings.Settings`, which combines the groups into one flat object)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./data/bot.db"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer concisely and accurately, "
    "in the language the user writes in."
)
MAX_HISTORY_LIMIT = 1000


class StorageSettings(BaseSettings):
    """Where the dialogue lives, and its defaults."""

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


class TelegramSettings(BaseSettings):
    """Telegram, the webhook and the process's serving."""

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
    # The Mini App (issue 32): the public https URL of this bot's /app page (served by
    # its web server: the webhook's, or HEALTH_PORT's when polling). Set: the chat's menu
    # button opens it, and /app. How old a Mini App sign-in (initData) may be.
    webapp_url: str | None = None
    webapp_max_age_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # Polling start with a webhook registered: delete it and poll (true), or stop (false).
    polling_takeover: bool = False
    # Answer in groups and supergroups (when addressed); off: private chats only.
    group_chats: bool = False
    # The history a group's (or forum topic's) shared conversation keeps.
    group_max_history_messages: int = Field(default=30, ge=1, le=MAX_HISTORY_LIMIT)
    # Inline mode (`@bot question` in any chat, once enabled in BotFather): a query is
    # answered only once the user left it unchanged this long; a newer one replaces it.
    inline_debounce_ms: int = Field(default=700, ge=0, le=10_000)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How long a turn lease outlives its last heartbeat (renewed every third of it): a
    # question stranded by a crash is taken over within about this plus half of it.
    turn_lease_seconds: float = Field(default=20.0, ge=1, le=3600)


class ModelSettings(BaseSettings):
    """The LLM server: chat, photos and voice in, documents, images and speech, tools."""

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
    # Up to three follow-up questions suggested under each answer in a private chat, as
    # buttons (one short extra request to the answering model, counted); off: none.
    followups: bool = False

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
    # /voice on, /voice auto: answers also spoken through /audio/speech; unset: no /voice.
    tts_model: str | None = Field(default=None, min_length=1)
    tts_voice: str = Field(default="alloy", min_length=1, max_length=64)
    # MCP servers whose tools the model may call: "name=command or URL;name2=...", or
    # JSON (config.mcp has every form). An http(s) URL is streamable HTTP, else a
    # command run over stdio. Empty: no tools.
    mcp_servers: Annotated[dict[str, str], NoDecode] = {}
    # Tool rounds per answer, and the deadline for all of an answer's tool calls.
    mcp_max_rounds: int = Field(default=5, ge=1, le=50)
    mcp_deadline_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Who may use the tools when no per-user allow list is set (/tools): admins, everyone.
    mcp_tools_for: Literal["admins", "everyone"] = "admins"


class AccessSettings(BaseSettings):
    """Who may use the bot, the per-user limits' defaults, budgets and payments, and the
    role presets a start link offers."""

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
    # Monthly subscriptions sold for Telegram Stars, "stars:tokens per month,...":
    # "100:300000,250:1000000"; each period's payment adds its tokens. Empty: no /subscribe.
    subscription_plans: Annotated[list[tuple[int, int]], NoDecode] = []
    # Where a paying user gets help (/paysupport), e.g. "@operator" or an e-mail address.
    payment_support: str | None = None
    # Where a payment or refund that could not be recorded yet (database down) waits on
    # disk until it is (also across a restart). Empty: `data/payments-spool` beside the
    # SQLite default's file, so a volume mounted on data/ keeps it.
    payments_spool_dir: str | None = None

    # Role presets a link can start a conversation with: t.me/<bot>?start=role_<name>.
    # JSON: {"pirate": "You are a pirate.", "tutor": "You are a patient maths tutor."}
    role_presets: Annotated[dict[str, str], NoDecode] = {}
