"""A member's own notices in a group, shown to that member alone (issue 33).

A limit, token budget or "not allowed" notice names one member's limits (or their
Telegram id), so it is never posted to the group. Bot API 10.2's ephemeral messages
show a message in the group to one member only (`sendMessage` with
`ephemeral_message_parameters.receiver_user_id`). A server older than that ignores the
unknown parameter and would post the notice for everyone; so before the first one this
process asks it whether it knows ephemeral messages at all, with a call that posts
nothing (`deleteEphemeralMessage` of a message that does not exist: a 404 means it does
not), and remembers the answer (bot.capabilities). Where there are none (or one is
refused), the notice goes to the member's private chat, and the group sees nothing; only
when the bot may not write to them there, a link that opens the private chat, as
bot.private does. In a private chat a notice is a reply like any other.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol, cast

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import DeleteEphemeralMessage
from aiogram.types import EphemeralMessageParameters, Message, ReplyParameters
from aiogram.utils.deep_linking import create_start_link

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.private import START_PAYLOAD, say_privately, unreachable
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.storage import utc_now
from ai_tg_bot.turns import AnswerView, TurnResult

log = logging.getLogger(__name__)
# The ephemeral message the probe "deletes": an id no message of ours has.
PROBE_MESSAGE_ID = 2**31 - 1
_GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


async def tell_over_limit(
    message: Message,
    user_id: int,
    bot: Bot,
    refusal: QuotaExceededError,
    capabilities: Capabilities,
) -> None:
    """Which of the member's limits refused their request, told as `tell_member` tells."""
    await tell_member(message, user_id, bot, refusal.user_message(utc_now()), capabilities)


async def tell_member(
    message: Message, user_id: int, bot: Bot, text: str, capabilities: Capabilities
) -> None:
    """A notice about the member's own limits or access: in a private chat, a reply as
    any other; in a group, shown to `user_id` alone (never posted to the group)."""
    if message.chat.type not in _GROUPS:
        await say_privately(message, user_id, bot, text)
        return
    thread_id = message.message_thread_id if message.is_topic_message else None
    await notify_member(
        bot, capabilities, message.chat.id, user_id, text,
        thread_id=thread_id, reply_to=message.message_id,
    )  # fmt: skip


async def notify_member(
    bot: Bot,
    capabilities: Capabilities,
    chat_id: int,
    user_id: int,
    text: str,
    *,
    thread_id: int | None = None,
    reply_to: int | None = None,
) -> None:
    """Show `text` to one member of the group `chat_id`: an ephemeral message, else in
    their private chat; when the bot may not write there, the group gets only the link
    that opens it (a reply to `reply_to`, their message, when given)."""
    if await _ephemeral(bot, capabilities, chat_id, user_id, text, thread_id):
        return
    try:
        await bot.send_message(user_id, text)
        return
    except (TelegramForbiddenError, TelegramBadRequest) as error:
        if not unreachable(error):
            raise
        log.info("private chat of user_id=%s unreachable: %s", user_id, type(error).__name__)
    link = texts.open_private_chat(await create_start_link(bot, START_PAYLOAD))
    reply = None
    if reply_to is not None:
        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
    await bot.send_message(chat_id, link, message_thread_id=thread_id, reply_parameters=reply)


async def _ephemeral(
    bot: Bot,
    capabilities: Capabilities,
    chat_id: int,
    user_id: int,
    text: str,
    thread_id: int | None,
) -> bool:
    """Show `text` in the group to `user_id` alone; False where it was not shown so."""
    if capabilities.ephemeral is None:
        capabilities.ephemeral = await _knows_ephemeral(bot, chat_id, user_id)
    if not capabilities.ephemeral:
        return False
    only_them = EphemeralMessageParameters(receiver_user_id=user_id)
    try:
        sent = await bot.send_message(
            chat_id, text, message_thread_id=thread_id, ephemeral_message_parameters=only_them
        )
    except TelegramNotFound as exc:
        capabilities.ephemeral = False
        log.warning("the Bot API server has no ephemeral messages (%s); notices go privately", exc)
        return False
    except (TelegramBadRequest, TelegramForbiddenError) as exc:
        log.info("ephemeral notice refused in chat %s (%s); sent privately", chat_id, exc)
        return False
    if sent.ephemeral_message_id is None and sent.message_id:
        # Posted for everyone: the server ignored the parameter. Take it back at once.
        capabilities.ephemeral = False
        log.warning("the Bot API server ignored ephemeral_message_parameters; notices go privately")
        with contextlib.suppress(TelegramAPIError):
            await bot.delete_message(chat_id, sent.message_id)
        return False
    return True


async def _knows_ephemeral(bot: Bot, chat_id: int, user_id: int) -> bool | None:
    """Whether the Bot API server knows ephemeral messages (Bot API 10.2), asked without
    posting anything; None when it could not be told (asked again next time)."""
    probe = DeleteEphemeralMessage(
        chat_id=chat_id, receiver_user_id=user_id, ephemeral_message_id=PROBE_MESSAGE_ID
    )
    try:
        await bot(probe)
    except TelegramNotFound:
        log.warning("the Bot API server has no ephemeral messages; notices go privately")
        return False
    except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter):
        return None
    except TelegramAPIError:
        return True  # the method exists: only this (made-up) message was refused
    return True


class GroupView(Protocol):
    """What MemberNoticeView needs of the group's view it wraps (bot.reply)."""

    bot: Bot
    chat_id: int
    thread_id: int | None

    async def __aexit__(self, *exc: object) -> None:
        """Stop showing progress."""

    async def show(self, result: TurnResult) -> None:
        """Show how the answer ended."""


class MemberNoticeView:
    """A group's answer view for a question whose asker's token budget was spent by the
    time its turn came: the refusal goes to them alone; anything else shows as usual."""

    def __init__(self, inner: GroupView, capabilities: Capabilities, author_id: int) -> None:
        self.inner = inner
        self.capabilities = capabilities
        self.author_id = author_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __aenter__(self) -> AnswerView:
        return cast(AnswerView, self)  # no typing in the group: nothing will be answered

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)

    async def show(self, result: TurnResult) -> None:
        """The refusal, to the asker alone; any other ending as the group's view shows it."""
        if result.refusal is None:
            await self.inner.show(result)
            return
        inner = self.inner
        await notify_member(
            inner.bot, self.capabilities, inner.chat_id, self.author_id, result.refusal,
            thread_id=inner.thread_id,
        )  # fmt: skip
