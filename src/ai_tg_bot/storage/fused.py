"""Statements that do two or three steps of a turn in one round trip (issue 30).

On PostgreSQL a turn's storage cost is mostly round trips (each one a send, a wake-up of
the server and of the event loop: about 0.2 ms of this process's CPU with SQLAlchemy),
so the steps a turn always takes together are fused: the question's slot with the turn
lease and the settings answering needs; the answer's lock with the user's limits and
the check for an answer stored already; the lease handed on or given back with the look
for a next question; the oldest question found and taken up. Each keeps the meaning of
the separate steps in statements and queue (and runs on SQLite too).
"""

from __future__ import annotations

from sqlalchemy import String, and_, bindparam, case, or_, select, update

from ai_tg_bot.limits import LIMIT_COLUMNS
from ai_tg_bot.storage.statements import (
    OLDEST_PENDING_SEQ,
    QUESTION_COLUMNS,
    USER,
    messages,
    setting,
    user_settings,
    users,
)

_owner = bindparam("b_owner", type_=String)
_until = bindparam("b_until", type_=users.c.turn_lease_until.type)
_now = bindparam("b_now", type_=users.c.turn_lease_until.type)
_active = and_(messages.c.user_id == USER, messages.c.deleted_at.is_(None))
# What answering reads from the settings row beside the limits (SettingsRow, tool_list).
SETTINGS_COLUMNS = (*LIMIT_COLUMNS, "system_prompt", "allowed_tools", "memory_enabled")


_lapsed = or_(users.c.turn_lease_until.is_(None), users.c.turn_lease_until < _now)
_ours_or_free = or_(_lapsed, users.c.turn_lease_owner == _owner)

# statements.NEXT_SEQ and statements.TAKE_LEASE in one: two slots taken under the user's
# row lock, the turn lease taken when free, lapsed or already `b_owner`'s (`leased`), and
# the settings row the question is answered with. In a transaction that goes on to
# refuse the question (a quota, a redelivery) the lease is rolled back with the slot.
ASK_SLOT = (
    update(users)
    .where(users.c.id == USER)
    .values(
        message_seq=users.c.message_seq + 2,
        turn_lease_owner=case((_ours_or_free, _owner), else_=users.c.turn_lease_owner),
        turn_lease_until=case((_ours_or_free, _until), else_=users.c.turn_lease_until),
        stop_requested_seq=case((_ours_or_free, None), else_=users.c.stop_requested_seq),
    )
    .returning(
        users.c.message_seq,
        users.c.current_conversation_id,
        (users.c.turn_lease_owner == _owner).label("leased"),
        *(setting(column) for column in SETTINGS_COLUMNS),
    )
)

# statements.LOCK_USER with the settings row (no row: no such user). Nothing written by
# others may be read here: a row lock waited for is re-read at its newest version, but the
# rest of the statement sees the database as it was when the statement began (on
# PostgreSQL), so what another transaction committed meanwhile is read by the next one.
LOCK_SETTINGS = (
    select(users.c.id, *(user_settings.c[column] for column in SETTINGS_COLUMNS))
    .select_from(users.outerjoin(user_settings, user_settings.c.user_id == users.c.id))
    .where(users.c.id == USER)
    .with_for_update(of=users)
)

# After an answer: with a question still waiting, the lease kept (or taken, if it lapsed
# and is free) for it; with none, given back. Only if it is `b_owner`'s, or free with a
# question waiting: no row when another turn holds it (that turn answers the rest).
_waiting = select(messages.c.id).where(_active, messages.c.status == "pending").exists()
HAND_ON = (
    update(users)
    .where(users.c.id == USER, or_(users.c.turn_lease_owner == _owner, and_(_waiting, _lapsed)))
    .values(
        turn_lease_owner=case((_waiting, _owner), else_=None),
        turn_lease_until=case((_waiting, _until), else_=None),
        stop_requested_seq=None,
    )
    .returning(users.c.turn_lease_owner.is_not(None).label("going_on"))
)

# The question marked answered, with the answer in the slot after it if one is stored
# already (a retry after a commit whose reply was lost). Run under the user's lock, so
# nothing of theirs is written meanwhile. No row: the question is no longer active.
_answer = messages.alias("answer")
ANSWER_QUESTION = (
    update(messages)
    .where(_active, messages.c.seq == bindparam("b_seq"), messages.c.role == "user")
    .values(status="answered")
    .returning(
        messages.c.id,
        select(_answer.c.content)
        .where(
            _answer.c.user_id == USER,
            _answer.c.deleted_at.is_(None),
            _answer.c.seq == bindparam("b_seq") + 1,
        )
        .scalar_subquery()
        .label("existing_answer"),
    )
)

# queue.oldest_pending and queue.take_up in one: the oldest question waiting, one more
# attempt counted, returned as statements.QUESTION_COLUMNS.
TAKE_UP_OLDEST = (
    update(messages)
    .where(_active, messages.c.seq == OLDEST_PENDING_SEQ)
    .values(attempts=messages.c.attempts + 1)
    .returning(*QUESTION_COLUMNS)
)
