"""AccountsStore: a user's settings (prompt, model, limits), blocking, usage and totals.

The one writer of `user_settings` and of `users.is_blocked`: a new per-user setting is
read and written here (and `/forget` clears the user's own choices through
`clear_choices`, inside its own transaction).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from ai_tg_bot.db import Message, User, UserSettings, run, utc_now
from ai_tg_bot.limits import (
    LIMIT_BY_NAME,
    LIMITS,
    LimitName,
    UserLimits,
    check_limit_value,
    day_start,
    resolve_limits,
)
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, StorageBase, active
from ai_tg_bot.storage.budgets import Spent, spent, token_usage, usage_totals
from ai_tg_bot.storage.outputs import VoiceMode
from ai_tg_bot.storage.quotas import check_quotas
from ai_tg_bot.storage.records import BotStats, Standing, UsageTotals, UserProfile, tool_list

# What the user chose for themselves (not what an admin set): /forget clears these.
USER_CHOICES = (
    "system_prompt",
    "model",
    "language",
    "voice_replies",
    "voice_auto",
    "memory_enabled",
)


async def write_settings(session: Executor, user_id: int, **values: Any) -> None:
    """Update the user's `user_settings` row (the caller holds the user's lock)."""
    await session.execute(
        update(UserSettings)
        .where(UserSettings.user_id == user_id)
        .values(**values, updated_at=utc_now())
    )


async def clear_choices(session: Executor, user_id: int) -> None:
    """Back to the defaults for what the user chose themselves (what /forget forgets)."""
    await write_settings(session, user_id, **dict.fromkeys(USER_CHOICES))


class AccountsStore(StorageBase):
    """Limits, models, blocking and usage, all read from and written to the database."""

    async def standing(self, user_id: int) -> Standing:
        """Blocked or not, and the chosen language, in one read (unknown users: neither)."""
        async with self.database.connection(single=True) as session:
            row = (await run(session, statements.STANDING, {"b_user_id": user_id})).first()
        if row is None:
            return Standing()
        return Standing(is_blocked=bool(row.is_blocked), language=row.language)

    async def set_language(self, user_id: int, language: str | None) -> None:
        """Speak `language` to the user from now on (None: follow their Telegram app)."""
        await self._update_settings(user_id, language=language)

    async def set_voice_mode(self, user_id: int, mode: VoiceMode) -> None:
        """Speak every answer too ("on"), the answers to voice messages ("auto"), or none
        ("off": back to the default); both columns in one transaction."""
        await self._update_settings(
            user_id,
            voice_replies=True if mode == "on" else None,
            voice_auto=True if mode == "auto" else None,
        )

    async def set_memory(self, user_id: int, on: bool) -> None:
        """/memory on (back to the default, NULL) or /memory off: whether the user's
        memory facts are given to the model (and added by its `remember` tool)."""
        await self._update_settings(user_id, memory_enabled=None if on else False)

    async def set_allowed_tools(self, user_id: int, entries: list[str] | None) -> None:
        """The MCP tools the user may use ("server__tool", "server", "*"; [] none; None:
        the default, MCP_TOOLS_FOR)."""
        await self._update_settings(user_id, allowed_tools=entries)

    async def allowed_tools(self, user_id: int) -> tuple[str, ...] | None:
        """The user's own tool allow list (None: none set, the default applies)."""
        async with self.database.connection(read_only=True) as session:
            found = await session.execute(
                select(UserSettings.allowed_tools).where(UserSettings.user_id == user_id)
            )
            return tool_list(found.scalar_one_or_none())

    async def set_blocked(self, user_id: int, blocked: bool) -> None:
        """Block or unblock a user (creating their rows if they never wrote)."""
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(is_blocked=blocked, updated_at=utc_now())
            )

    async def limits(self, user_id: int) -> UserLimits:
        """The limits in force for the user."""
        async with self.database.session(read_only=True) as session:
            row = (
                await session.execute(select(UserSettings).where(UserSettings.user_id == user_id))
            ).scalar_one_or_none()
        return resolve_limits(row, self.settings)

    async def precheck(self, user_id: int) -> None:
        """Raise QuotaExceededError if a new question would be refused now (daily, per
        minute, token budget): asked before work that costs the bot (a document's
        download and extraction), so a user over a limit costs nothing. A read, not the
        gate itself: the question is counted under the user's lock when it is stored."""
        async with self.database.connection(read_only=True) as session:
            limits = await self._limits(session, user_id)
            await check_quotas(
                session, user_id, limits, utc_now(), can_buy=bool(self.settings.stars_packs)
            )

    async def set_limit(self, user_id: int, name: LimitName, value: int | None) -> None:
        """Set one limit (None: back to the default); the history limit trims at once."""
        if value is not None:
            check_limit_value(name, value)
        if name == "history":
            await self.set_max_history_messages(user_id, value)
        else:
            await self._update_settings(user_id, **{LIMIT_BY_NAME[name].column: value})

    async def set_max_history_messages(self, user_id: int, limit: int | None) -> int:
        """Set the history limit (1..1000; None: the default) and trim every
        conversation of the user to it at once.

        Returns how many messages the new limit soft-deleted.
        """
        if limit is not None:
            check_limit_value("history", limit)
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            await write_settings(session, user_id, max_history_messages=limit)
            limits = await self._limits(session, user_id)
            holding = await session.execute(
                select(Message.conversation_id).where(active(user_id)).distinct()
            )
            trimmed = 0
            for conversation_id in list(holding.scalars()):
                trimmed += await self._trim(
                    session, user_id, limits.max_history_messages, conversation_id
                )
            return trimmed

    async def set_model(self, user_id: int, model: str) -> None:
        """Switch the user's model; it must be one of LLM_MODELS."""
        if model not in self.settings.llm_models:
            raise ValueError(f"unknown model {model!r}")
        await self._update_settings(user_id, model=model)

    async def usage(self, user_id: int | None = None) -> UsageTotals:
        """Messages and tokens today and in total, of one user or of everyone."""
        statement = select(*usage_totals(day_start(utc_now()), user_id))
        if user_id is not None:
            statement = statement.where(Message.user_id == user_id)
        async with self.database.session(read_only=True) as session:
            row = (await session.execute(statement)).one()
        return UsageTotals(*(int(value) for value in row))

    async def profile(self, user_id: int) -> UserProfile | None:
        """Everything an admin wants to know about one user; None if they never wrote."""
        async with self.database.session(read_only=True) as session:
            found = (
                await session.execute(
                    select(User, UserSettings)
                    .outerjoin(UserSettings, UserSettings.user_id == User.id)
                    .where(User.id == user_id)
                )
            ).first()
        if found is None:
            return None
        user, row = found
        named = [(limit.name, limit.column) for limit in LIMITS] + [("model", "model")]
        custom = {
            name: getattr(row, column)
            for name, column in named
            if row is not None and getattr(row, column) is not None
        }
        if row is not None and row.allowed_tools is not None:  # the MCP tools (/tools)
            custom["tools"] = ",".join(row.allowed_tools) or "-"

        return UserProfile(
            user_id=user.id,
            created_at=user.created_at,
            is_blocked=user.is_blocked,
            limits=resolve_limits(row, self.settings),
            custom=custom,
            usage=await self.usage(user_id),
        )

    async def stats(self) -> BotStats:
        """Users, users active today, blocked users, and everyone's usage."""
        today = day_start(utc_now())
        async with self.database.session(read_only=True) as session:
            users, blocked = (
                await session.execute(
                    select(
                        func.count(), func.count().filter(User.is_blocked.is_(True))
                    ).select_from(User)
                )
            ).one()
            active = (
                await session.execute(
                    select(func.count(func.distinct(Message.user_id))).where(
                        Message.role == "user", Message.created_at >= today
                    )
                )
            ).scalar_one()
        return BotStats(
            users=int(users),
            active_today=int(active),
            blocked=int(blocked),
            usage=await self.usage(),
        )

    async def budget(self, user_id: int) -> tuple[UserLimits, Spent]:
        """The user's limits and the tokens they used today and this month (UTC), with
        their bought credit: what /limits shows of budgets."""
        async with self.database.connection(read_only=True) as session:
            limits = await self._limits(session, user_id)
            return limits, await spent(session, user_id, utc_now())

    async def tokens_by_model(
        self, user_id: int | None = None, *, today: bool = False
    ) -> dict[str, tuple[int, int]]:
        """Prompt and completion tokens by model, of one user or of everyone, today or in
        total (what costs are priced from)."""
        statement = select(
            token_usage.c.model,
            func.sum(token_usage.c.prompt_tokens),
            func.sum(token_usage.c.completion_tokens),
        ).group_by(token_usage.c.model)
        if user_id is not None:
            statement = statement.where(token_usage.c.user_id == user_id)
        if today:
            statement = statement.where(token_usage.c.day >= day_start(utc_now()).date())
        async with self.database.connection(read_only=True) as session:
            rows = await session.execute(statement)
            return {str(model): (int(p or 0), int(c or 0)) for model, p, c in rows}

    async def _update_settings(self, user_id: int, **values: Any) -> None:
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            await write_settings(session, user_id, **values)
