"""Per-user limits: the user's own values, falling back to the defaults in Settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from ai_tg_bot.config import MAX_HISTORY_LIMIT, Settings
from ai_tg_bot.errors import BotError
from ai_tg_bot.i18n import _, day, ngettext, number

LimitName = Literal["history", "daily", "context", "tokens", "monthly_tokens", "images"]
QuotaKind = Literal["daily", "rate", "tokens", "monthly_tokens", "images"]
UNLIMITED_MAX = 100_000_000
TOKENS_MAX = 10**15


@dataclass(frozen=True, slots=True)
class Limit:
    """One per-user limit: the name admins use, its `user_settings` column (NULL: the
    default), the `Settings` field holding that default, and its bounds (0: unlimited
    when `minimum` is 0). `UserLimits` has a field named like the column."""

    name: LimitName
    column: str
    default: str
    minimum: int = 0
    maximum: int = UNLIMITED_MAX


# Every per-user limit. A new one is a column (schema + migration), a default in
# config, a line here, a `UserLimits` and `LimitsRow` field, and its texts.
LIMITS: tuple[Limit, ...] = (
    Limit("history", "max_history_messages", "default_max_history_messages", 1, MAX_HISTORY_LIMIT),
    Limit("daily", "daily_message_limit", "daily_message_limit"),
    Limit("context", "max_context_chars", "max_context_chars"),
    Limit("tokens", "daily_token_limit", "daily_token_limit", 0, TOKENS_MAX),
    Limit("monthly_tokens", "monthly_token_limit", "monthly_token_limit", 0, TOKENS_MAX),
    Limit("images", "daily_image_limit", "daily_image_limit"),
)
LIMIT_NAMES: tuple[LimitName, ...] = tuple(limit.name for limit in LIMITS)
LIMIT_BY_NAME = {limit.name: limit for limit in LIMITS}


@dataclass(frozen=True, slots=True)
class UserLimits:
    """The limits in force for one user (0 means unlimited where allowed)."""

    max_history_messages: int
    daily_message_limit: int
    max_context_chars: int
    model: str
    rate_limit_per_minute: int
    daily_token_limit: int = 0
    monthly_token_limit: int = 0
    daily_image_limit: int = 0

    @property
    def has_budget(self) -> bool:
        """Whether tokens are limited (per day or per month) for this user."""
        return bool(self.daily_token_limit or self.monthly_token_limit)


# The user_settings columns resolve_limits reads: what the write path's first statement
# (storage/statements.NEXT_SEQ) returns, so a limit in LIMITS is read wherever it applies.
LIMIT_COLUMNS = (*(limit.column for limit in LIMITS), "model")


class LimitsRow(Protocol):
    """The limit columns of a user_settings row (the ORM object or a result row)."""

    max_history_messages: int | None
    daily_message_limit: int | None
    max_context_chars: int | None
    daily_token_limit: int | None
    monthly_token_limit: int | None
    daily_image_limit: int | None
    model: str | None


class SettingsRow(LimitsRow, Protocol):
    """A whole user_settings row."""

    system_prompt: str | None


def resolve_limits(
    row: LimitsRow | None, settings: Settings, owner_id: int | None = None
) -> UserLimits:
    """Each NULL (or a missing row) takes the default from Settings: the one place.

    A model no longer listed in LLM_MODELS falls back to LLM_MODEL, so an operator can
    withdraw a model without touching the database. A group's row (`owner_id` is a
    group's chat id, negative) keeps GROUP_MAX_HISTORY_MESSAGES of history by default.
    """

    values: dict[str, int] = {}  # every limit in LIMITS, by column
    for limit in LIMITS:
        own: int | None = getattr(row, limit.column) if row is not None else None
        default = getattr(settings, limit.default)
        if owner_id is not None and owner_id < 0 and limit.column == "max_history_messages":
            default = settings.group_max_history_messages
        values[limit.column] = default if own is None else own
    model = row.model if row and row.model in settings.llm_models else None
    return UserLimits(
        **values,
        model=model or settings.llm_model,
        rate_limit_per_minute=settings.rate_limit_per_minute,
    )


def resolve_prompt(stored: str | None, settings: Settings) -> str:
    """The user's system prompt; NULL (or none set) means DEFAULT_SYSTEM_PROMPT."""
    return stored or settings.default_system_prompt


def check_limit_value(name: LimitName, value: int) -> None:
    """Raise ValueError with a clear message when `value` is out of range for `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"the {name} limit must be an integer")
    limit = LIMIT_BY_NAME[name]
    if limit.minimum == 0 and not 0 <= value <= limit.maximum:
        raise ValueError(f"the {name} limit must be 0 (unlimited) or a positive number")
    if not limit.minimum <= value <= limit.maximum:
        raise ValueError(f"the {name} limit must be between {limit.minimum} and {limit.maximum}")


def day_start(moment: datetime) -> datetime:
    """Midnight UTC at the start of `moment`'s day."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first day of `moment`'s month."""
    return day_start(moment).replace(day=1)


def next_month(moment: datetime) -> datetime:
    """Midnight UTC on the first day of the month after `moment`'s."""
    first = month_start(moment)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


class QuotaExceededError(BotError):
    """The user may not send another message yet (or their token budget is spent);
    nothing was stored or spent. `can_buy`: Stars top-ups exist (/buy)."""

    def __init__(
        self, kind: QuotaKind, limit: int, resets_at: datetime, *, can_buy: bool = False
    ) -> None:
        super().__init__(f"{kind} limit of {limit} reached until {resets_at.isoformat()}")
        self.kind = kind
        self.limit = limit
        self.resets_at = resets_at
        self.can_buy = can_buy

    def user_message(self, now: datetime) -> str:
        """What the user is told: the limit and when it resets (and /buy, if it exists)."""
        wait = max(self.resets_at - now, timedelta(seconds=1))
        if self.kind == "rate":
            seconds = int(wait.total_seconds()) + 1
            return ngettext(
                "⏳ Slow down: at most {limit} message a minute. Try again in {seconds} s.",
                "⏳ Slow down: at most {limit} messages a minute. Try again in {seconds} s.",
                self.limit,
            ).format(limit=number(self.limit), seconds=number(seconds))
        hours, minutes = divmod(int(wait.total_seconds()) // 60, 60)
        if self.kind == "images":
            return ngettext(
                "🚫 You've made your {limit} image for today. "
                "More after 00:00 UTC (in {hours} h {minutes} min).",
                "🚫 You've made your {limit} images for today. "
                "More after 00:00 UTC (in {hours} h {minutes} min).",
                self.limit,
            ).format(limit=number(self.limit), hours=hours, minutes=minutes)
        if self.kind == "daily":
            return ngettext(
                "🚫 You've reached your daily limit of {limit} message. "
                "It resets at 00:00 UTC (in {hours} h {minutes} min).",
                "🚫 You've reached your daily limit of {limit} messages. "
                "It resets at 00:00 UTC (in {hours} h {minutes} min).",
                self.limit,
            ).format(limit=number(self.limit), hours=hours, minutes=minutes)
        if self.kind == "tokens":
            text = ngettext(
                "🚫 You've used your daily budget of {limit} token. "
                "It resets at 00:00 UTC (in {hours} h {minutes} min).",
                "🚫 You've used your daily budget of {limit} tokens. "
                "It resets at 00:00 UTC (in {hours} h {minutes} min).",
                self.limit,
            ).format(limit=number(self.limit), hours=hours, minutes=minutes)
        else:
            text = ngettext(
                "🚫 You've used your monthly budget of {limit} token. "
                "It resets on {date} at 00:00 UTC.",
                "🚫 You've used your monthly budget of {limit} tokens. "
                "It resets on {date} at 00:00 UTC.",
                self.limit,
            ).format(limit=number(self.limit), date=day(self.resets_at))
        if self.can_buy:
            text += " " + _("More tokens: /buy.")
        return text
