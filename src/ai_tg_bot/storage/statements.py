"""The hot path's statements, built once.

Building a SQLAlchemy statement and computing its cache key costs more Python time than
PostgreSQL spends running it (measured: about a third of a turn's CPU). These are built
at import with bind parameters and reused; each keeps its memoized cache key.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from ai_tg_bot.db import Conversation, MemoryFact, Message, UsageEvent, User, UserSettings
from ai_tg_bot.db import TokenUsage as TokenUsageRow
from ai_tg_bot.limits import LIMIT_COLUMNS

messages = cast(Table, Message.__table__)
users = cast(Table, User.__table__)
user_settings = cast(Table, UserSettings.__table__)
usage_events = cast(Table, UsageEvent.__table__)
conversations = cast(Table, Conversation.__table__)
token_usage = cast(Table, TokenUsageRow.__table__)
memory_facts = cast(Table, MemoryFact.__table__)

USER: BindParameter[int] = bindparam("b_user_id")
_user = USER
_conversation: BindParameter[int] = bindparam("b_conversation_id", type_=BigInteger)
# A message still in the history (not trimmed, cleared, retried or expired): the one
# definition; `base.active(user_id)` and the statements below build on it.
IS_ACTIVE = messages.c.deleted_at.is_(None)
_active = and_(messages.c.user_id == _user, IS_ACTIVE)
# One conversation's history: what a question is answered with and trimmed within.
_in_conversation = and_(_active, messages.c.conversation_id == _conversation)
# A question the daily message limit counts: a user message, but not the stand-in of an
# image (/image: kind "image"), which the daily image limit counts instead.
IS_COUNTED_QUESTION = and_(
    messages.c.role == "user", or_(messages.c.kind.is_(None), messages.c.kind != "image")
)


def exportable(user_id: int) -> Any:
    """The user's messages they still own: active, or trimmed out of the context window.

    What the user cleared (/reset, /role, /retry) and what expired are left out.
    """
    return (Message.user_id == user_id) & or_(IS_ACTIVE, Message.deleted_reason == "trimmed")


def setting(column: str) -> Any:
    """One column of the user's settings row, as a scalar subquery named like it."""
    return (
        select(user_settings.c[column])
        .where(user_settings.c.user_id == _user)
        .scalar_subquery()
        .label(column)
    )


# Take two sequence slots (locking the user's row) and read the user's limit columns,
# which limits.resolve_limits turns into the limits in force, and where a message
# outside any topic goes (storage.placement).
NEXT_SEQ = (
    update(users)
    .where(users.c.id == _user)
    .values(message_seq=users.c.message_seq + 2)
    .returning(
        users.c.message_seq,
        users.c.current_conversation_id,
        *(setting(column) for column in LIMIT_COLUMNS),
    )
)

# Every update's first read: blocked, and the language the user chose.
STANDING = (
    select(users.c.is_blocked, user_settings.c.language)
    .select_from(users.outerjoin(user_settings, user_settings.c.user_id == users.c.id))
    .where(users.c.id == _user)
)


# Every column given as a parameter: one compiled INSERT serves every message.
INSERT_MESSAGE = insert(messages)

# A stored Telegram message: its slot, and whether it still waits for an answer.
SEEN = select(
    messages.c.seq,
    and_(messages.c.status == "pending", IS_ACTIVE).label("waiting"),
).where(
    messages.c.telegram_chat_id == bindparam("chat_id"),
    messages.c.telegram_message_id == bindparam("message_id"),
)

# What the quotas count since `since`: the user's messages (deleted ones count: /reset
# refunds nothing) and their usage events (exports; and, after /forget, the questions
# it erased, kept without their words so that forgetting refunds nothing either).
# Exports count toward the per-minute guard only.
_counted = union_all(
    select(messages.c.created_at, literal("message").label("kind")).where(
        messages.c.user_id == _user,
        IS_COUNTED_QUESTION,
        messages.c.created_at >= bindparam("since"),
    ),
    select(usage_events.c.created_at, usage_events.c.kind).where(
        usage_events.c.user_id == _user, usage_events.c.created_at >= bindparam("since")
    ),
).subquery()
QUOTA_COUNTS = select(
    func.count().filter(_counted.c.created_at >= bindparam("today"), _counted.c.kind == "message"),
    func.count().filter(_counted.c.created_at >= bindparam("minute_ago")),
    func.min(_counted.c.created_at).filter(_counted.c.created_at >= bindparam("minute_ago")),
)
# The counts and SEEN in one round trip (a question's, under the user's lock).
QUOTA_COUNTS_SEEN = QUOTA_COUNTS.add_columns(
    SEEN.with_only_columns(messages.c.seq).limit(1).scalar_subquery().label("seen_seq"),
    SEEN.with_only_columns(SEEN.selected_columns.waiting)
    .limit(1)
    .scalar_subquery()
    .label("seen_waiting"),
)

SETTINGS_ROW = select(user_settings).where(user_settings.c.user_id == _user)

# What is stored in the user's active slot `b_seq` (an answer stored already, say).
STORED_CONTENT = select(messages.c.content).where(_active, messages.c.seq == bindparam("b_seq"))


# What answering needs beside the history: the user's settings row, and the prompt of
# the question's conversation (NULL: the user's default).
CONTEXT_SETTINGS = select(
    user_settings,
    select(conversations.c.system_prompt)
    .where(conversations.c.id == _conversation)
    .scalar_subquery()
    .label("conversation_prompt"),
).where(user_settings.c.user_id == _user)

# The oldest question still waiting for its answer (NULL when none waits).
OLDEST_PENDING_SEQ = (
    select(func.min(messages.c.seq))
    .where(_active, messages.c.status == "pending")
    .scalar_subquery()
)
# The same within one conversation.
_oldest_pending_here = (
    select(func.min(messages.c.seq))
    .where(_in_conversation, messages.c.status == "pending")
    .scalar_subquery()
)
# Soft-delete what in the conversation is older than its `keep`-th newest active message
# at or before its oldest pending question (the newest overall when none waits). That
# window is the context the pending question is answered with, so a burst longer than
# the limit keeps each queued question's context; once the queue drains, the last answer
# trims to the limit exactly. Questions still waiting are never trimmed (they would go
# unanswered). Other conversations of the user keep their own windows.
TRIM = (
    update(messages)
    .where(
        _in_conversation,
        messages.c.seq
        < select(messages.c.seq)
        .where(_in_conversation, messages.c.seq <= func.coalesce(_oldest_pending_here, 2**62))
        .order_by(messages.c.seq.desc())
        .offset(bindparam("skip"))
        .limit(1)
        .scalar_subquery(),
        or_(messages.c.status.is_(None), messages.c.status != "pending"),
    )
    .values(deleted_at=bindparam("b_now"), deleted_reason="trimmed")
)

TAKE_LEASE = (
    update(users)
    .where(
        users.c.id == _user,
        or_(
            users.c.turn_lease_until.is_(None),
            users.c.turn_lease_until < bindparam("b_now"),
            users.c.turn_lease_owner == bindparam("b_owner"),
        ),
    )
    # Taken (a new turn, or the holder going on to its next question) or given back
    # (RELEASE_LEASE): no earlier answer is being written, so no stop for one holds.
    .values(
        turn_lease_owner=bindparam("b_owner"),
        turn_lease_until=bindparam("b_until"),
        stop_requested_seq=None,
    )
    .returning(users.c.id)
)

# The user's row lock for this transaction (SQLite: BEGIN IMMEDIATE already holds one).
LOCK_USER = select(users.c.id).where(users.c.id == _user).with_for_update()

# The heartbeat: extend the leases this process holds (each only while still its own).
RENEW_LEASES = (
    update(users)
    .where(
        users.c.id.in_(bindparam("b_user_ids", expanding=True)),
        users.c.turn_lease_owner.in_(bindparam("b_owners", expanding=True)),
    )
    .values(turn_lease_until=bindparam("b_until"))
)

# Users with a question waiting under no live lease: its answerer died (or never began).
STRANDED = (
    select(messages.c.user_id)
    .join(users, users.c.id == messages.c.user_id)
    .where(
        messages.c.status == "pending",
        IS_ACTIVE,
        or_(users.c.turn_lease_until.is_(None), users.c.turn_lease_until < bindparam("b_now")),
    )
    .group_by(messages.c.user_id)
    .order_by(func.min(messages.c.created_at))
    .limit(bindparam("b_limit"))
)

RELEASE_LEASE = (
    update(users)
    .where(users.c.id == _user, users.c.turn_lease_owner == bindparam("b_owner"))
    .values(turn_lease_owner=None, turn_lease_until=None, stop_requested_seq=None)
)

# A topic conversation's thread: where the answer to a question in it is shown.
_thread = (
    select(conversations.c.telegram_thread_id)
    .where(conversations.c.id == messages.c.conversation_id)
    .scalar_subquery()
)
QUESTION_COLUMNS = (
    messages.c.seq,
    messages.c.content,
    messages.c.telegram_chat_id,
    messages.c.kind,
    messages.c.attachments,
    messages.c.conversation_id,
    _thread.label("telegram_thread_id"),
    messages.c.attempts,
    messages.c.author_id,
)

# The history for one answer, newest budget-worth (the newest message always), oldest first.
_window = (
    select(
        messages.c.seq,
        messages.c.role,
        messages.c.content,
        messages.c.attachments,
        func.sum(messages.c.content_length).over(order_by=messages.c.seq.desc()).label("running"),
        func.row_number().over(order_by=messages.c.seq.desc()).label("position"),
    )
    .where(_in_conversation, messages.c.seq <= bindparam("b_upto", type_=BigInteger))
    .subquery()
)
_budget = bindparam("b_budget", type_=Integer)
# At most the user's history limit, within the question's conversation: a question queued
# behind others in a burst is answered with the newest `max_history_messages` up to
# itself, as if sent alone.
CONTEXT = (
    select(
        _window.c.role,
        _window.c.content,
        _window.c.attachments,
        or_(_budget == 0, _window.c.running <= _budget, _window.c.position == 1).label("fits"),
        # The conversation's own prompt (NULL: the user's default), read with the history,
        # and its rolling summary of what left the window (SUMMARY_MODEL).
        select(conversations.c.system_prompt)
        .where(conversations.c.id == _conversation)
        .scalar_subquery()
        .label("conversation_prompt"),
        select(conversations.c.summary)
        .where(conversations.c.id == _conversation)
        .scalar_subquery()
        .label("summary"),
        # Whether the user keeps facts (MEMORY_FACTS reads them only then).
        select(memory_facts.c.id).where(memory_facts.c.user_id == _user).exists().label("facts"),
    )
    .where(_window.c.position <= bindparam("b_limit", type_=Integer))
    .order_by(_window.c.seq)
)
