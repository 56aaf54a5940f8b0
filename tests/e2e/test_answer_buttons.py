"""The buttons under an answer in a private chat (issue 33): 🔄 Regenerate asks again as
/retry does and is counted the same way; with FOLLOWUPS=on, up to three questions the
model suggested (one small extra request, counted) ask theirs. Only the newest answer's
buttons act, and only for their user."""

from __future__ import annotations

import json
from typing import Any

from ai_tg_bot.bot import texts
from ai_tg_bot.storage import AccountsStore, DialogueStore
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.llm import count_tokens
from tests.fakes.telegram import SentMessage

ALICE, BOB = 8101, 8202
REGENERATE = "🔄 Regenerate"
SUGGESTED = ["What about Lyon?", "How big is Paris?", "When was it founded?"]


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of each button of the message, top to bottom."""
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    return [(button["text"], button["callback_data"]) for row in rows for button in row]


def keyed(bot: BotHarness, user_id: int) -> list[SentMessage]:
    """The user's private messages that carry buttons now."""
    return [m for m in bot.messages(user_id) if buttons(m)]


async def press(bot: BotHarness, user_id: int, data: str, message: SentMessage) -> dict[str, Any]:
    """Press a button of `message` as `user_id`; returns the bot's answerCallbackQuery."""
    query_id = bot.tg.push_callback(user_id, data, message.message_id, chat_id=message.chat_id)
    await bot.settle()
    assert query_id in bot.tg.callback_answers, "every button press is answered"
    return bot.tg.callback_answers[query_id]


def stores(bot: BotHarness) -> tuple[DialogueStore, AccountsStore]:
    assert bot.app is not None
    return bot.app.deps.storage, bot.app.deps.accounts


def last_question(request: dict[str, Any]) -> str:
    return str([m for m in request["messages"] if m["role"] == "user"][-1]["content"])


async def test_regenerate_asks_again_and_counts(make_bot: HarnessFactory) -> None:
    bot = await make_bot(daily_message_limit=10)
    storage, accounts = stores(bot)
    assert await bot.say(ALICE, "what is 2+2?") == ["Echo: what is 2+2?"]
    [answer] = keyed(bot, ALICE)
    [(label, data)] = buttons(answer)
    assert label == REGENERATE
    assert len(data.encode()) <= 64
    before, calls = await accounts.usage(ALICE), bot.llm.calls

    bot.llm.queue_reply("Four, as it happens.")
    answered = await press(bot, ALICE, data, answer)

    assert not answered.get("text"), "answered at once, with no alert"
    assert bot.llm.calls == calls + 1
    assert last_question(bot.llm.last_request) == "what is 2+2?", "the same question again"
    after = await accounts.usage(ALICE)
    assert after.messages_today == before.messages_today + 1, "counted like /retry"
    assert after.tokens_today > before.tokens_today
    # The old answer is replaced, as /retry does: it leaves the history.
    context = await storage.load_context(ALICE)
    assert context.history == [
        {"role": "user", "content": "what is 2+2?"},
        {"role": "assistant", "content": "Four, as it happens."},
    ]
    assert buttons(answer) == [], "the pressed buttons are gone"
    [new] = keyed(bot, ALICE)
    assert new.text == "Four, as it happens."
    assert [label for label, _ in buttons(new)] == [REGENERATE]
    # Pressed twice (a double tap): the old answer is no longer the newest.
    calls = bot.llm.calls
    assert (await press(bot, ALICE, data, answer))["text"] == texts.BUTTON_EXPIRED
    assert bot.llm.calls == calls


async def test_an_older_answers_buttons_expire(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    await bot.say(ALICE, "first")
    [first] = keyed(bot, ALICE)
    [(_, data)] = buttons(first)
    await bot.say(ALICE, "second")
    assert keyed(bot, ALICE)[-1].text == "Echo: second"
    # The older answer keeps showing its buttons (taking them away would cost every
    # answer a Telegram call), but a press finds them expired, and takes them away.
    assert buttons(first) == [("🔄 Regenerate", data)]
    before, calls = await stores(bot)[1].usage(ALICE), bot.llm.calls
    answered = await press(bot, ALICE, data, first)
    assert answered["text"] == texts.BUTTON_EXPIRED
    assert answered.get("show_alert") in (True, "true")
    assert bot.llm.calls == calls, "nothing asked"
    assert (await stores(bot)[1].usage(ALICE)).messages_today == before.messages_today
    assert [m.text for m in bot.messages(ALICE)][-1] == "Echo: second", "nothing said"
    assert buttons(first) == [], "pressed: gone"


async def test_another_users_press_is_refused(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    await bot.say(ALICE, "hello")
    [answer] = keyed(bot, ALICE)
    [(_, data)] = buttons(answer)
    calls = bot.llm.calls
    answered = await press(bot, BOB, data, answer)
    assert answered["text"] == texts.BUTTON_NOT_YOURS
    assert bot.llm.calls == calls
    assert buttons(answer) != [], "her buttons stay"


async def test_regenerate_over_the_limit_is_refused_like_retry(make_bot: HarnessFactory) -> None:
    bot = await make_bot(daily_message_limit=1)
    await bot.say(ALICE, "hello")
    [answer] = keyed(bot, ALICE)
    [(_, data)] = buttons(answer)
    calls = bot.llm.calls
    await press(bot, ALICE, data, answer)
    assert bot.llm.calls == calls, "nothing spent"
    refusal = bot.messages(ALICE)[-1].text
    assert "daily limit of 1" in refusal
    assert await bot.say(ALICE, "/retry") == [refusal], "the same refusal as /retry's"
    # Nothing changed: the answer is still there.
    context = await stores(bot)[0].load_context(ALICE)
    assert context.history[-1] == {"role": "assistant", "content": "Echo: hello"}


async def test_followups_are_suggested_counted_and_asked(make_bot: HarnessFactory) -> None:
    bot = await make_bot(followups=True, daily_message_limit=10)
    storage, accounts = stores(bot)
    bot.llm.queue_reply("Paris.")
    bot.llm.queue_reply(json.dumps(SUGGESTED))
    assert await bot.say(ALICE, "What is the capital of France?") == ["Paris."]
    assert bot.llm.calls == 2, "the answer, then one small request for the suggestions"
    suggesting = bot.llm.requests[1]["messages"]
    assert "What is the capital of France?" in suggesting[-1]["content"]
    assert "Paris." in suggesting[-1]["content"]
    [answer] = keyed(bot, ALICE)
    assert [label for label, _ in buttons(answer)] == [*SUGGESTED, REGENERATE]
    assert all(len(data.encode()) <= 64 for _, data in buttons(answer))
    # Both requests are in token_usage, as the fake server counted them.
    spent = sum(
        count_tokens("".join(str(m["content"]) for m in request["messages"])) + count_tokens(reply)
        for request, reply in zip(bot.llm.requests, ["Paris.", json.dumps(SUGGESTED)], strict=True)
    )
    assert sum(sum(pair) for pair in (await accounts.tokens_by_model(ALICE)).values()) == spent
    newest = await storage.newest_answer(ALICE)
    assert newest is not None
    assert newest.followups == tuple(SUGGESTED), "kept on the answer"

    before = await accounts.usage(ALICE)
    bot.llm.queue_reply("About two million people.")
    bot.llm.queue_reply("[]")  # no usable suggestion: Regenerate alone
    data = buttons(answer)[1][1]
    answered = await press(bot, ALICE, data, answer)
    assert not answered.get("text")
    assert last_question(bot.llm.requests[2]) == "How big is Paris?", "asked as if typed"
    assert (await accounts.usage(ALICE)).messages_today == before.messages_today + 1
    texts_now = [m.text for m in bot.messages(ALICE)]
    assert texts_now[-2:] == ["💬 How big is Paris?", "About two million people."]
    assert buttons(answer) == []
    [new] = keyed(bot, ALICE)
    assert [label for label, _ in buttons(new)] == [REGENERATE]
    # The older answer's suggestion has expired (pressed where it still shows): no ask.
    calls = bot.llm.calls
    assert (await press(bot, ALICE, data, answer))["text"] == texts.BUTTON_EXPIRED
    assert bot.llm.calls == calls


async def test_no_followups_request_over_the_budget(make_bot: HarnessFactory) -> None:
    """The answer spends the day's token budget: no suggestions are asked for."""
    bot = await make_bot(followups=True, daily_token_limit=5)
    bot.llm.queue_reply("Paris.")
    bot.llm.queue_reply(json.dumps(SUGGESTED))
    assert await bot.say(ALICE, "What is the capital of France?") == ["Paris."]
    assert bot.llm.calls == 1, "no request past the budget"
    [answer] = keyed(bot, ALICE)
    assert [label for label, _ in buttons(answer)] == [REGENERATE]


async def test_followups_off_by_default(bot: BotHarness) -> None:
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert bot.llm.calls == 1
    [answer] = keyed(bot, ALICE)
    assert [label for label, _ in buttons(answer)] == [REGENERATE]


async def test_the_buttons_sit_on_the_last_message_of_a_long_answer(
    make_bot: HarnessFactory,
) -> None:
    """A server without drafts or rich messages: the answer streams with edits and is
    split at 4,096 characters; only its last message carries the buttons."""
    bot = await make_bot()
    bot.tg.become_older_server()
    bot.llm.queue_reply("word " * 1500)
    await bot.say(ALICE, "a long one, please")
    parts = bot.messages(ALICE)
    assert len(parts) == 2
    assert buttons(parts[0]) == []
    assert [label for label, _ in buttons(parts[1])] == [REGENERATE]
