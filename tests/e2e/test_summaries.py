"""SUMMARY_MODEL end to end: what trimming takes out of a conversation's window is
summarised, the summary goes before the window, its tokens are the user's, /reset
forgets it (issue 31)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from ai_tg_bot.db.database import Database
from ai_tg_bot.media.inputs import SUMMARY_HEADER
from ai_tg_bot.turns.summaries import SUMMARY_MAX_CHARS, SUMMARY_PROMPT
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_conversations import request_for
from tests.fakes.llm import echo_responder
from tests.fakes.waiting import poll_until_async

ALICE = 8611
SUMMARY_MODEL = "sum-model"


def summarising(bot: BotHarness) -> list[dict[str, Any]]:
    """Answer the summary model with numbered summaries, anything else by echoing; the
    summary requests, as they come."""
    asked: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> str:
        if request["model"] != SUMMARY_MODEL:
            return echo_responder(request)
        asked.append(request)
        return f"Summary {len(asked)}: Alice grows kiwis."

    bot.llm.responder = responder
    return asked


async def summary_of(database: Database, user_id: int) -> tuple[str | None, int | None]:
    """The summary and summary_seq of the user's (one) conversation."""
    async with database.session(read_only=True) as session:
        found = await session.execute(
            text("SELECT summary, summary_seq FROM conversations WHERE user_id = :u"),
            {"u": user_id},
        )
        summary, seq = found.one()
    return summary, None if seq is None else int(seq)


async def has_summary(database: Database, user_id: int, expected: str | None) -> None:
    async def stored() -> bool:
        return (await summary_of(database, user_id))[0] == expected

    await poll_until_async(stored, 10, lambda: f"the summary {expected!r} stored")


async def tokens_by_model(database: Database, user_id: int) -> dict[str, int]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT model, SUM(prompt_tokens + completion_tokens) FROM token_usage"
                " WHERE user_id = :u GROUP BY model"
            ),
            {"u": user_id},
        )
        return {str(model): int(tokens) for model, tokens in rows}


def summary_input(request: dict[str, Any]) -> str:
    """What a summary request gave the model to summarise."""
    system, given = request["messages"]
    assert system == {"role": "system", "content": SUMMARY_PROMPT}
    return str(given["content"])


async def test_a_summary_of_what_was_trimmed_goes_before_the_window_and_is_paid_for(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(
        summary_model=SUMMARY_MODEL, default_max_history_messages=2, daily_token_limit=100_000
    )
    asked = summarising(bot)
    assert await bot.say(ALICE, "kiwi one") == ["Echo: kiwi one"]
    assert asked == [], "nothing left the window yet"
    assert await bot.say(ALICE, "kiwi two") == ["Echo: kiwi two"]
    await has_summary(database, ALICE, "Summary 1: Alice grows kiwis.")
    (first,) = asked
    assert first["model"] == SUMMARY_MODEL
    given = summary_input(first)
    assert "(none yet)" in given
    assert "User: kiwi one\n\nAssistant: Echo: kiwi one" in given
    assert "kiwi two" not in given, "what is still in the window is not summarised"

    # The next request: the summary after the system prompt, then the window.
    assert await bot.say(ALICE, "kiwi three") == ["Echo: kiwi three"]
    system, *window = request_for(bot, "kiwi three")
    assert system[0] == "system"
    assert system[1].endswith(f"\n\n{SUMMARY_HEADER}\nSummary 1: Alice grows kiwis.")
    assert window == [("assistant", "Echo: kiwi two"), ("user", "kiwi three")]
    # Rolling: the summary so far and only what left the window since.
    await has_summary(database, ALICE, "Summary 2: Alice grows kiwis.")
    second = summary_input(asked[1])
    assert "Summary 1: Alice grows kiwis." in second
    assert "User: kiwi two\n\nAssistant: Echo: kiwi two" in second
    assert "kiwi one" not in second
    assert len(asked) == 2

    # Its tokens are the user's, counted against the budget like the answers'.
    used = await tokens_by_model(database, ALICE)
    assert set(used) == {"fake-model", SUMMARY_MODEL}
    assert used[SUMMARY_MODEL] > 0
    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Tokens today: {sum(used.values()):,} of 100,000" in limits

    # /reset forgets it, and what it cleared is never summarised later.
    await bot.say(ALICE, "/reset")
    summary, covered = await summary_of(database, ALICE)
    assert summary is None
    assert covered is not None
    assert await bot.say(ALICE, "fig one") == ["Echo: fig one"]
    assert SUMMARY_HEADER not in request_for(bot, "fig one")[0][1]
    assert await bot.say(ALICE, "fig two") == ["Echo: fig two"]
    await has_summary(database, ALICE, "Summary 3: Alice grows kiwis.")
    third = summary_input(asked[2])
    assert "(none yet)" in third
    assert "User: fig one\n\nAssistant: Echo: fig one" in third
    assert "kiwi" not in third, "what /reset cleared is not summarised"
    # The trimmed messages are kept as before: out of the context, still the user's.
    async with database.session(read_only=True) as session:
        trimmed = await session.execute(
            text(
                "SELECT content FROM messages WHERE user_id = :u"
                " AND deleted_reason = 'trimmed' ORDER BY seq"
            ),
            {"u": ALICE},
        )
        assert [c for (c,) in trimmed] == [
            "kiwi one", "Echo: kiwi one", "kiwi two", "Echo: kiwi two", "fig one",
            "Echo: fig one",
        ]  # fmt: skip


async def test_a_failed_summary_is_counted_and_tried_again_after_the_next_answer(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(summary_model=SUMMARY_MODEL, default_max_history_messages=2)
    asked = summarising(bot)
    await bot.say(ALICE, "kiwi one")
    bot.llm.fail_after(1, 500)  # the answer to "kiwi two" passes, its summary fails
    assert await bot.say(ALICE, "kiwi two") == ["Echo: kiwi two"]
    assert asked == []
    assert (await summary_of(database, ALICE))[0] is None
    assert await bot.say(ALICE, "kiwi three") == ["Echo: kiwi three"]
    await has_summary(database, ALICE, "Summary 1: Alice grows kiwis.")
    (request,) = asked
    given = summary_input(request)
    assert "User: kiwi one" in given, "what was due stays due"
    assert "User: kiwi two" in given


async def test_without_a_summary_model_nothing_is_summarised(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(default_max_history_messages=2)
    for question in ("kiwi one", "kiwi two", "kiwi three"):
        assert await bot.say(ALICE, question) == [f"Echo: {question}"]
    assert {r["model"] for r in bot.llm.requests} == {"fake-model"}
    assert await summary_of(database, ALICE) == (None, None)
    assert SUMMARY_HEADER not in request_for(bot, "kiwi three")[0][1]


async def test_a_long_summary_is_cut_and_its_stream_closed(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(summary_model=SUMMARY_MODEL, default_max_history_messages=2)

    def responder(request: dict[str, Any]) -> str:
        if request["model"] == SUMMARY_MODEL:
            return "kiwi " * SUMMARY_MAX_CHARS
        return echo_responder(request)

    bot.llm.responder = responder
    for question in ("kiwi one", "kiwi two"):
        await bot.say(ALICE, question)

    async def stored() -> bool:
        return (await summary_of(database, ALICE))[0] is not None

    await poll_until_async(stored, 10, lambda: "a summary stored")
    summary, _ = await summary_of(database, ALICE)
    assert summary is not None
    assert summary.startswith("kiwi kiwi")
    assert len(summary) <= SUMMARY_MAX_CHARS
    used = await tokens_by_model(database, ALICE)
    assert used[SUMMARY_MODEL] > 0, "what arrived before the cut is counted"
