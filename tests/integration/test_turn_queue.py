"""The turn queue in DialogueStore: exactly-once questions, answers in place, the lease."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import update

from ai_tg_bot.db import Message, utc_now
from ai_tg_bot.storage import DuplicateMessageError, NewQuestion, Question, TokenUsage
from ai_tg_bot.storage.accounts import AccountsStore
from ai_tg_bot.storage.records import MAX_ASKS
from tests.seeding import SeedingStorage

USER = 5151
CHAT = 5151


async def answer(
    storage: SeedingStorage,
    user_id: int,
    question: Question,
    text: str,
    usage: TokenUsage | None = None,
) -> None:
    """Store an answer as the turn holder does (the production `complete`)."""
    await storage.complete(user_id, question, text, usage, owner="test", lease_seconds=60)


async def fail(storage: SeedingStorage, user_id: int, question: Question) -> None:
    """The LLM failed: the turn holder marks the question failed (`complete` with None)."""
    await storage.complete(user_id, question, None, None, owner="test", lease_seconds=60)


async def test_a_redelivered_telegram_message_is_stored_once(storage: SeedingStorage) -> None:
    first = await storage.add_message(
        USER, "user", "hi", pending=True, telegram_chat_id=CHAT, telegram_message_id=7
    )
    with pytest.raises(DuplicateMessageError):
        await storage.add_message(
            USER, "user", "hi", pending=True, telegram_chat_id=CHAT, telegram_message_id=7
        )
    # The same message id in another chat is another message.
    await storage.add_message(USER, "user", "x", telegram_chat_id=-100, telegram_message_id=7)
    assert [m["content"] for m in await storage.load_history(USER)] == ["hi", "x"]
    assert await storage.is_pending(USER, first.seq)


async def test_concurrent_redeliveries_store_one_row(storage: SeedingStorage) -> None:
    results = await asyncio.gather(
        *(
            storage.add_message(
                USER, "user", "same", pending=True, telegram_chat_id=CHAT, telegram_message_id=9
            )
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, DuplicateMessageError) for r in results if isinstance(r, Exception))
    assert len(await storage.load_history(USER)) == 1


async def test_answers_sit_after_their_question_even_when_more_arrived(
    storage: SeedingStorage,
) -> None:
    await storage.add_message(USER, "user", "q1", pending=True)
    await storage.add_message(USER, "user", "q2", pending=True)
    first = await storage.next_pending(USER)
    assert first is not None
    assert first.content == "q1"
    context = await storage.load_context(USER, upto_seq=first.seq)
    assert [m["content"] for m in context.history] == ["q1"], "q2 is not part of q1's turn"
    await answer(storage, USER, first, "a1", TokenUsage("m", 3, 4))
    second = await storage.next_pending(USER)
    assert second is not None
    assert second.content == "q2"
    context = await storage.load_context(USER, upto_seq=second.seq)
    assert [m["content"] for m in context.history] == ["q1", "a1", "q2"]
    await answer(storage, USER, second, "a2")
    assert await storage.next_pending(USER) is None
    assert [m["content"] for m in await storage.load_history(USER)] == ["q1", "a1", "q2", "a2"]


async def test_an_answer_to_a_cleared_question_is_kept_deleted(storage: SeedingStorage) -> None:
    await storage.add_message(USER, "user", "q", pending=True)
    question = await storage.next_pending(USER)
    assert question is not None
    await storage.clear_history(USER)
    await answer(storage, USER, question, "late answer")
    assert await storage.load_history(USER) == []
    assert (await storage.get_dialog_info(USER)).deleted_count == 2


async def test_an_answer_stored_twice_is_kept_and_counted_once(
    storage: SeedingStorage,
) -> None:
    """A retry after a commit whose reply was lost: the stored answer is returned, not
    stored or charged again; likewise once its question has left the history."""
    accounts = AccountsStore(storage.database, storage.settings)
    await storage.add_message(USER, "user", "q", pending=True)
    question = await storage.next_pending(USER)
    assert question is not None
    usage = TokenUsage("fake-model", 10, 5)
    first = await storage.complete(USER, question, "kept", usage, owner="t", lease_seconds=60)
    again = await storage.complete(USER, question, "other", usage, owner="t", lease_seconds=60)
    assert first[0] == again[0] == "kept"
    assert [m["content"] for m in await storage.load_history(USER)] == ["q", "kept"]
    assert (await accounts.usage(USER)).tokens_total == 15
    async with storage.database.connection() as connection:  # trimmed out, its answer in
        await connection.execute(
            update(Message)
            .where(Message.user_id == USER, Message.seq == question.seq)
            .values(deleted_at=utc_now(), deleted_reason="trimmed")
        )
    third = await storage.complete(USER, question, "third", usage, owner="t", lease_seconds=60)
    assert third[0] == "kept"
    assert (await accounts.usage(USER)).tokens_total == 15


async def test_a_failed_question_stays_in_history_and_can_be_retried(
    storage: SeedingStorage,
) -> None:
    await storage.add_message(USER, "user", "q", pending=True)
    question = await storage.next_pending(USER)
    assert question is not None
    await fail(storage, USER, question)
    assert await storage.next_pending(USER) is None
    assert not await storage.is_pending(USER, question.seq)
    retried = await storage.prepare_retry(USER)
    assert retried is not None
    assert (retried.content, retried.telegram_chat_id) == (question.content, None)
    assert retried.seq > question.seq, "asked again in a new slot (counted like a message)"
    assert await storage.next_pending(USER) == replace(retried, attempts=1), "taken up once"
    assert [m["content"] for m in await storage.load_history(USER)] == ["q"]


async def test_the_turn_lease_has_one_holder_and_expires(storage: SeedingStorage) -> None:
    await storage.ensure_user(USER)
    grabs = await asyncio.gather(
        *(storage.try_acquire_turn(USER, f"owner{n}", 60) for n in range(8))
    )
    assert sum(grabs) == 1
    holder = f"owner{grabs.index(True)}"
    assert await storage.try_acquire_turn(USER, holder, 60), "the holder may extend"
    await storage.release_turn(USER, "someone-else")
    assert not await storage.try_acquire_turn(USER, "late", 60)
    await storage.release_turn(USER, holder)
    assert await storage.try_acquire_turn(USER, "late", 0.05)
    await asyncio.sleep(0.1)
    assert await storage.try_acquire_turn(USER, "after-expiry", 60), "a dead holder's lease ends"


async def test_pending_questions_are_never_trimmed(
    storage: SeedingStorage, accounts: AccountsStore
) -> None:
    await accounts.set_max_history_messages(USER, 2)
    for number in range(4):
        await storage.add_message(USER, "user", f"q{number}", pending=True)
    # Over the limit, but all four still wait for their answers.
    assert len(await storage.load_history(USER)) == 4
    while (question := await storage.next_pending(USER)) is not None:
        await answer(storage, USER, question, f"a{question.content}")
    assert [m["content"] for m in await storage.load_history(USER)] == ["q3", "aq3"]


async def _contexts_answering(
    storage: SeedingStorage, user_id: int, burst: list[str]
) -> list[list[str]]:
    """Answer every pending question in order; the history each one was answered with."""
    seen = []
    while (question := await storage.next_pending(user_id)) is not None:
        context = await storage.load_context(user_id, upto_seq=question.seq)
        seen.append([m["content"] for m in context.history])
        await answer(storage, user_id, question, f"a{question.content}")
    return seen


@pytest.mark.parametrize("limit", [1, 2, 4, 5])
async def test_a_burst_longer_than_the_limit_keeps_each_questions_context(
    storage: SeedingStorage, limit: int, accounts: AccountsStore
) -> None:
    """Each queued question sees what it would have seen had the user waited (issue 19)."""
    sequential_user, burst_user = USER, USER + 1
    earlier, burst = ["q0", "q1"], [f"q{n}" for n in range(2, 8)]
    for user_id in (sequential_user, burst_user):
        await accounts.set_max_history_messages(user_id, limit)
        for text in earlier:
            await storage.add_message(user_id, "user", text, pending=True)
            await _contexts_answering(storage, user_id, [])
    # Sequential: each question sent only after the previous answer arrived.
    expected = []
    for text in burst:
        await storage.add_message(sequential_user, "user", text, pending=True)
        expected += await _contexts_answering(storage, sequential_user, [text])
    # Burst: every question stored before the first of them is answered.
    for text in burst:
        await storage.add_message(burst_user, "user", text, pending=True)
    assert await _contexts_answering(storage, burst_user, burst) == expected
    for context in expected:
        assert len(context) == min(limit, len(context)) <= limit
    # Drained: trimmed to the limit exactly, as in the sequential case.
    assert await storage.load_history(burst_user) == await storage.load_history(sequential_user)
    assert len(await storage.load_history(burst_user)) == limit


async def test_a_failed_answer_in_a_burst_does_not_widen_the_next_context(
    storage: SeedingStorage,
    accounts: AccountsStore,
) -> None:
    await accounts.set_max_history_messages(USER, 3)
    for text in ("q1", "q2", "q3", "q4"):
        await storage.add_message(USER, "user", text, pending=True)
    first = await storage.next_pending(USER)
    assert first is not None
    await fail(storage, USER, first)  # no answer stored, so nothing trimmed here
    for expected in (["q1", "q2"], ["q1", "q2", "aq2", "q3"][-3:], ["q3", "aq3", "q4"]):
        question = await storage.next_pending(USER)
        assert question is not None
        context = await storage.load_context(USER, upto_seq=question.seq)
        assert [m["content"] for m in context.history] == expected
        await answer(storage, USER, question, f"a{question.content}")


async def test_the_heartbeat_renews_only_leases_still_held_by_their_owner(
    storage: SeedingStorage,
) -> None:
    users = [USER + n for n in range(3)]
    for user in users:
        await storage.ensure_user(user)
        # A lease that ended a second ago: lapsed, as if its heartbeat had stopped.
        assert await storage.try_acquire_turn(user, f"me:{user}", -1)
    held = {user: f"me:{user}" for user in users}
    held[USER + 9] = "me:gone"  # a user forgotten meanwhile: nothing to renew
    assert await storage.try_acquire_turn(users[0], "another", 60), "taken over"
    assert await storage.renew_turns(held, 60) == 2, "the taken-over lease is not ours"
    for user in users[1:]:
        assert not await storage.try_acquire_turn(user, "another", 60), "renewed: still held"
    assert await storage.renew_turns({}, 60) == 0


async def test_stranded_users_are_those_with_a_question_under_a_lapsed_lease(
    storage: SeedingStorage,
) -> None:
    stranded, alive, idle, fresh = USER, USER + 1, USER + 2, USER + 3
    for user in (stranded, alive, fresh):
        await storage.add_message(user, "user", "q", pending=True)
    await storage.add_message(idle, "user", "answered long ago")
    assert await storage.try_acquire_turn(stranded, "dead", -1)  # lapsed a second ago
    assert await storage.try_acquire_turn(alive, "alive", 60)
    # `fresh` never had a lease (its turn died before taking one): stranded too.
    assert sorted(await storage.stranded_users()) == [stranded, fresh]
    assert len(await storage.stranded_users(limit=1)) == 1


async def test_a_question_is_taken_up_at_most_max_asks_times(storage: SeedingStorage) -> None:
    """Each hand-out of a pending question is counted (messages.attempts): one whose
    answerers keep dying is handed out as exhausted after MAX_ASKS, never asked again."""
    stored = await storage.ask(NewQuestion(USER, "poison"), owner="a", lease_seconds=60)
    assert stored.handoff is not None
    assert stored.handoff.question.attempts == 1
    assert not stored.handoff.question.exhausted
    handed = []
    question = stored.handoff.question
    for owner in "bcd":  # each answerer died holding it; the sweep's drain takes it up again
        await storage.release_turn(USER, chr(ord(owner) - 1))
        assert await storage.try_acquire_turn(USER, owner, 60)
        taken = await storage.next_pending(USER)
        assert taken is not None
        question = taken
        handed.append((question.attempts, question.exhausted))
    assert handed == [(2, False), (3, False), (MAX_ASKS + 1, True)]
    await fail(storage, USER, question)
    assert not await storage.is_pending(USER, question.seq), "failed: it blocks nothing"
