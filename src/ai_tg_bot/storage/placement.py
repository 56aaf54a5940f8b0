"""Conversations: which one a message goes to, and the user's commands on them.

A topic of the user's private chat is its own conversation, found by its thread id
(created on first sight). Outside topics a message goes to the user's current
conversation (`users.current_conversation_id`, read by NEXT_SEQ with the slot), opened
when there is none, or when it has been idle past CONVERSATION_IDLE_MINUTES. Every
function here runs inside a caller's transaction that holds the user's row lock, so two
messages of one user never open two conversations for one topic (ADR 0014).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from ai_tg_bot.db import Message, run, utc_now
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, as_utc

conversations = statements.conversations
users = statements.users
messages = statements.messages

# A title is the first question cut to this many characters, at a word boundary.
TITLE_CHARS = 60
# How many conversations /chats lists.
RECENT_CONVERSATIONS = 10
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)

_user: BindParameter[int] = bindparam("b_user_id")
_now: BindParameter[datetime] = bindparam("b_now")
_title: BindParameter[str | None] = bindparam("b_title")
_thread = bindparam("b_thread_id", type_=BigInteger)
_touched = {
    "last_active_at": _now,
    "title": func.coalesce(conversations.c.title, _title),
}
# The current conversation, still live and not idle: touched, titled if untitled.
TOUCH_CURRENT = (
    update(conversations)
    .where(
        conversations.c.id == bindparam("b_conversation_id"),
        conversations.c.user_id == _user,
        conversations.c.telegram_thread_id.is_(None),
        conversations.c.deleted_at.is_(None),
        conversations.c.last_active_at >= bindparam("b_idle_since"),
    )
    .values(**_touched)
    .returning(conversations.c.id)
)
# A topic's conversation (a purged one comes back with the topic's next message).
TOUCH_TOPIC = (
    update(conversations)
    .where(conversations.c.user_id == _user, conversations.c.telegram_thread_id == _thread)
    .values(**_touched, deleted_at=None)
    .returning(conversations.c.id)
)
OPEN = insert(conversations).returning(conversations.c.id)
SET_CURRENT = (
    update(users).where(users.c.id == _user).values(current_conversation_id=bindparam("b_current"))
)
CURRENT_OF_USER = select(users.c.current_conversation_id).where(users.c.id == _user)
TOPIC = select(conversations.c.id).where(
    conversations.c.user_id == _user, conversations.c.telegram_thread_id == _thread
)


def short_title(text: str | None) -> str | None:
    """A question as a title: one line of at most TITLE_CHARS, cut at a word boundary."""
    line = " ".join((text or "").split())
    if not line:
        return None
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[: TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space >= TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


async def open_conversation(
    session: Executor,
    user_id: int,
    now: datetime,
    *,
    title: str | None = None,
    thread_id: int | None = None,
    current: bool = True,
) -> int:
    """A new conversation (the user's current one unless it is a topic's); its id."""
    row = await run(
        session,
        OPEN,
        {
            "user_id": user_id,
            "title": title,
            "telegram_thread_id": thread_id,
            "created_at": now,
            "last_active_at": now,
        },
    )
    conversation_id = int(row.scalar_one())
    if thread_id is None and current:
        await run(session, SET_CURRENT, {"b_user_id": user_id, "b_current": conversation_id})
    return conversation_id


async def place_message(
    session: Executor,
    user_id: int,
    *,
    current: int | None,
    thread_id: int | None,
    content: str | None,
    now: datetime,
    idle_minutes: int = 0,
) -> int:
    """The conversation a new message of the user goes to, touched (and titled by it if
    untitled); opened when there is none. `current` is the user's current conversation
    (as NEXT_SEQ read it); past `idle_minutes` of silence it is left for a new one."""
    title = short_title(content)
    parameters = {"b_user_id": user_id, "b_now": now, "b_title": title}
    if thread_id is not None:
        found = await run(session, TOUCH_TOPIC, {**parameters, "b_thread_id": thread_id})
        conversation_id = found.scalar()
        if conversation_id is not None:
            return int(conversation_id)
        return await open_conversation(session, user_id, now, title=title, thread_id=thread_id)
    if current is not None:
        idle_since = now - timedelta(minutes=idle_minutes) if idle_minutes else _LONG_AGO
        found = await run(
            session,
            TOUCH_CURRENT,
            {**parameters, "b_conversation_id": current, "b_idle_since": idle_since},
        )
        conversation_id = found.scalar()
        if conversation_id is not None:
            return int(conversation_id)
    return await open_conversation(session, user_id, now, title=title)


async def find_conversation(session: Executor, user_id: int, thread_id: int | None) -> int | None:
    """The conversation a command in this place means: the topic's, or the current one
    (None when there is none yet)."""
    if thread_id is not None:
        found = await run(session, TOPIC, {"b_user_id": user_id, "b_thread_id": thread_id})
    else:
        found = await session.execute(
            select(conversations.c.id).where(
                conversations.c.id == CURRENT_OF_USER.scalar_subquery(),
                conversations.c.user_id == _user,
                conversations.c.deleted_at.is_(None),
            ),
            {"b_user_id": user_id},
        )
    conversation_id = found.scalar()
    return None if conversation_id is None else int(conversation_id)


async def ensure_conversation(
    session: Executor, user_id: int, thread_id: int | None, now: datetime
) -> int:
    """The conversation a command in this place means, opened if there is none."""
    found = await find_conversation(session, user_id, thread_id)
    if found is not None:
        return found
    return await open_conversation(session, user_id, now, thread_id=thread_id)


def has_active_messages() -> Any:
    """Whether the conversation (the row in scope) still has a message in its history."""
    return exists().where(messages.c.conversation_id == conversations.c.id, statements.IS_ACTIVE)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One line of /chats: a conversation, how much history it holds, and whether the
    user's messages outside topics go to it now."""

    id: int
    title: str | None
    last_active_at: datetime
    messages: int
    is_current: bool


def recent_statement(user_id: int, limit: int) -> Any:
    """The user's conversations outside topics that still hold history (and the current
    one, even empty), most recently active first."""
    current = CURRENT_OF_USER.scalar_subquery()
    active_count = (
        select(func.count())
        .where(messages.c.conversation_id == conversations.c.id, statements.IS_ACTIVE)
        .scalar_subquery()
    )
    return (
        select(
            conversations.c.id,
            conversations.c.title,
            conversations.c.last_active_at,
            active_count.label("messages"),
            (conversations.c.id == current).label("is_current"),
        )
        .where(
            conversations.c.user_id == user_id,
            conversations.c.telegram_thread_id.is_(None),
            conversations.c.deleted_at.is_(None),
            or_(conversations.c.id == current, has_active_messages()),
        )
        .order_by(conversations.c.last_active_at.desc(), conversations.c.id.desc())
        .limit(limit)
    )


def summary_of(row: Any) -> ConversationSummary:
    """A ConversationSummary from a row of `recent_statement`."""
    conversation_id, title, last_active_at, count, is_current = row
    return ConversationSummary(
        int(conversation_id),
        title,
        as_utc(last_active_at) or _LONG_AGO,
        int(count),
        bool(is_current),
    )


def in_conversation(user_id: int, conversation_id: int) -> Any:
    """The user's messages of one conversation (ORM condition)."""
    return and_(Message.user_id == user_id, Message.conversation_id == conversation_id)


async def retitle(session: Executor, conversation_id: int, title: str | None) -> None:
    """Give the conversation a title (None: untitled, until its next question)."""
    await session.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(title=title)
    )


async def touch(session: Executor, conversation_id: int) -> None:
    """The user just chose this conversation: active now, so it is not idle."""
    await session.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(last_active_at=utc_now())
    )


async def name_if_untitled(session: Executor, conversation_id: int, content: str) -> None:
    """Title an untitled conversation by this question (a voice one, once transcribed)."""
    await session.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.title.is_(None))
        .values(title=short_title(content))
    )


def conversation_overview(conversation_id: int | None, user_id: int) -> Any:
    """One conversation's title, and how many conversations the user has (for /status)."""
    return select(
        select(conversations.c.title)
        .where(conversations.c.id == conversation_id)
        .scalar_subquery(),
        select(func.count())
        .where(conversations.c.user_id == user_id, conversations.c.deleted_at.is_(None))
        .scalar_subquery(),
    )
