"""Issue 14 end to end: drafts with a Stop button in private chats, rich messages for the
final answer, the fallbacks for older servers and refusing chats, reasoning in the draft,
and Stop cancelling the model's stream."""

from __future__ import annotations

from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_bot import active_rows

ALICE = 111
BOB = 222
GROUP = -100_4242
TABLE = "Prices:\n\n| fruit | price |\n| --- | --- |\n| kiwi | 2 |\n| plum | 3 |"


async def kinds(database: Database, user_id: int) -> list[tuple[str, str | None, str | None]]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT role, kind, status FROM messages WHERE user_id = :u"
                " AND deleted_at IS NULL ORDER BY seq"
            ),
            {"u": user_id},
        )
        return [(r.role, r.kind, r.status) for r in rows]


async def streaming(bot: BotHarness, user_id: int, *, shown: str) -> int:
    """Wait until the user's draft shows `shown`; the draft's id."""

    def found() -> bool:
        return any(d.chat_id == user_id and shown in d.text for d in bot.tg.drafts)

    await bot.tg.wait_for(found, what=f"a draft showing {shown!r}")
    return next(d.draft_id for d in bot.tg.drafts if d.chat_id == user_id)


async def test_private_chats_stream_with_drafts_groups_with_edits(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True, stream_edit_interval_seconds=0.05)
    # Seven pieces over about a second: past the first draft's wait (drafts.FIRST_DRAFT_SECONDS).
    bot.llm.chunk_size, bot.llm.chunk_delay = 5, 0.15
    bot.llm.queue_reply("One two three four five six seven.")
    assert await bot.say(ALICE, "count") == ["One two three four five six seven."]
    drafts = [d.text for d in bot.tg.drafts if d.chat_id == ALICE]
    assert len(drafts) >= 2, "the answer grew in the draft"
    assert len(set(drafts)) == len(drafts), "each draft showed something new"
    assert drafts[-1] == "One two three four five six seven."
    assert all(d.can_stop for d in bot.tg.drafts)
    assert not bot.tg.method_calls("editMessageText")
    assert bot.messages(ALICE)[-1].rich

    bot.llm.queue_reply("In the group, edits as before.")
    message = bot.tg.make_message(
        BOB, "@test_bot hi", chat_id=GROUP, chat_type="supergroup", first_name="Bob"
    )
    message["entities"] = [{"type": "mention", "offset": 0, "length": len("@test_bot")}]
    bot.tg.push_update({"message": message})
    await bot.settle()
    assert not [d for d in bot.tg.drafts if d.chat_id == GROUP]
    final = bot.messages(GROUP)[-1]
    assert final.text == "In the group, edits as before."
    assert final.edits, "the group's preview was edited into the answer"
    assert not final.rich


async def test_a_table_arrives_as_a_rich_message_and_long_answers_whole(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(llm_max_tokens=0)  # no cap on the answer's length
    bot.llm.queue_reply(TABLE)
    await bot.say(ALICE, "a table please")
    sent = bot.messages(ALICE)[-1]
    assert sent.rich
    assert sent.markdown == TABLE, "Telegram renders the model's Markdown itself"

    paragraphs = [f"Paragraph {n}: " + "lorem ipsum " * 60 for n in range(28)]
    long_answer = "\n\n".join(paragraphs)
    assert 20_000 <= len(long_answer) <= 32_768
    bot.llm.chunk_size = 2000
    bot.llm.queue_reply(long_answer)
    before = len(bot.messages(ALICE))
    replies = await bot.say(ALICE, "write a lot")
    assert len(replies) == 1, "one message up to 32,768 characters"
    assert bot.messages(ALICE)[before].markdown == long_answer.strip()
    assert (await active_rows(database, ALICE))[-1] == ("assistant", long_answer)


async def test_refused_rich_messages_fall_back_once_and_are_remembered(
    bot: BotHarness, database: Database
) -> None:
    bot.tg.rich_refused_chats.add(ALICE)
    bot.llm.queue_reply("Some **bold** words")
    assert await bot.say(ALICE, "go") == ["Some bold words"]
    final = bot.messages(ALICE)[-1]
    assert not final.rich
    assert {e["type"] for e in final.entities or []} == {"bold"}
    assert await bot.say(ALICE, "again") == ["Echo: again"]
    assert len(bot.tg.method_calls("sendRichMessage")) == 1, "the refusal is remembered"
    rows = await active_rows(database, ALICE)
    assert rows == [
        ("user", "go"),
        ("assistant", "Some **bold** words"),
        ("user", "again"),
        ("assistant", "Echo: again"),
    ], "each answer stored once"
    # Other chats still get rich messages.
    await bot.say(BOB, "hello")
    assert bot.messages(BOB)[-1].rich


async def test_an_older_server_without_drafts_or_rich_messages(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(stream_edit_interval_seconds=0.05)
    bot.tg.become_older_server()
    bot.llm.chunk_size, bot.llm.chunk_delay = 5, 0.05
    bot.llm.queue_reply("An answer with **bold** text, streamed.")
    assert await bot.say(ALICE, "hi") == ["An answer with bold text, streamed."]
    assert bot.messages(ALICE)[-1].edits, "streamed with edits instead"
    assert await bot.say(ALICE, "again") == ["Echo: again"]
    assert len(bot.tg.method_calls("sendMessageDraft")) == 1, "no drafts: remembered"
    assert not bot.tg.method_calls("sendRichMessage"), "streamed with edits: entity messages"
    assert len(await active_rows(database, ALICE)) == 4


async def test_stop_cancels_the_stream_keeps_the_partial_answer_and_goes_on(
    bot: BotHarness, database: Database
) -> None:
    bot.llm.chunk_size = 10
    bot.llm.queue_reply("The first part arrives, and then the model rambles on forever.")
    bot.llm.stall_next(120, after_chunks=3)  # two chunks of text, then a long silence
    bot.tg.push_text(ALICE, "ramble")
    draft_id = await streaming(bot, ALICE, shown="The first part")
    bot.tg.push_text(ALICE, "next question")  # queued behind the rambling answer
    bot.tg.push_stop(ALICE, draft_id)
    await bot.settle()
    await bot.llm.wait_for(lambda: bot.llm.disconnects == 1)
    texts_shown = [m.text for m in bot.messages(ALICE)]
    assert texts_shown == ["The first part arriv", texts.STOPPED, "Echo: next question"]
    assert await active_rows(database, ALICE) == [
        ("user", "ramble"),
        ("assistant", "The first part arriv"),
        ("user", "next question"),
        ("assistant", "Echo: next question"),
    ], "the next turn sees what the user saw"
    assert (await kinds(database, ALICE))[1] == ("assistant", "stopped", None)
    async with database.session(read_only=True) as session:
        tokens = (
            await session.execute(
                text(
                    "SELECT prompt_tokens, completion_tokens FROM messages"
                    " WHERE user_id = :u AND kind = 'stopped'"
                ),
                {"u": ALICE},
            )
        ).one()
    # Estimated (the stream ended before the usage chunk): 20 characters, 5 tokens.
    assert tokens[1] == 5
    assert tokens[0] > 0, "the prompt was billed all the same"
    assert bot.llm.last_request["messages"][-2]["content"] == "The first part arriv"


async def test_stop_before_any_text_and_stop_with_nothing_running(
    bot: BotHarness, database: Database
) -> None:
    assert await bot.say(ALICE, "/stop") == [texts.NOTHING_TO_STOP]
    bot.llm.stall_next(120, after_chunks=1)  # the role event, then silence
    bot.tg.push_text(ALICE, "think hard")
    await bot.llm.wait_for_requests(1)
    draft_id = await streaming(bot, ALICE, shown="")
    assert await bot.say(ALICE, "/stop") == [texts.STOPPED_EARLY]
    assert await kinds(database, ALICE) == [("user", None, "failed")], "kept for /retry"
    bot.tg.push_stop(ALICE, draft_id)  # a late press stops nothing
    await bot.settle()
    assert await bot.say(ALICE, "/retry") == ["Echo: think hard"]


async def test_reasoning_shows_in_the_draft_and_never_in_the_answer(
    bot: BotHarness, database: Database
) -> None:
    bot.llm.chunk_size = 50
    bot.llm.think_next("The user greets me, so I should greet back.")
    bot.llm.stall_next(120, after_chunks=2)  # the role, the reasoning, then silence
    bot.tg.push_text(ALICE, "hello")
    await streaming(bot, ALICE, shown="💭 The user greets me, so I should greet back.")
    bot.llm.resume()
    await bot.settle()
    assert [m.text for m in bot.messages(ALICE)] == ["Echo: hello"]
    assert await active_rows(database, ALICE) == [("user", "hello"), ("assistant", "Echo: hello")]
    bot.llm.think_next("Short.", field="reasoning")  # OpenRouter's name for it
    bot.llm.stall_next(120, after_chunks=2)
    bot.tg.push_text(ALICE, "again")
    await streaming(bot, ALICE, shown="💭 Short.")
    bot.llm.resume()
    await bot.settle()
    assert bot.messages(ALICE)[-1].text == "Echo: again"
    assert "Short." not in (await active_rows(database, ALICE))[-1][1]
