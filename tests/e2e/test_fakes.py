"""Smoke tests: the fakes work with the real aiogram and openai clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    MessageEntity,
    PreCheckoutQuery,
    Update,
)
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import (
    CHARGE_ALREADY_REFUNDED,
    CHARGE_NOT_FOUND,
    NOT_MODIFIED,
    QUERY_ID_INVALID,
    FakeTelegram,
    SentInvoice,
)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(max_poll_seconds=0.5) as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(token="123456:TEST", session=session)
    yield bot
    await bot.session.close()


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(chunk_size=5) as fake:
        yield fake


def openai_client(llm: FakeLLM, timeout: float = 30) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=0, timeout=timeout)


HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi there"}]


# ---- Telegram ------------------------------------------------------------------------
async def test_get_me_and_send_message(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "test_bot", True)  # id from the token
    assert me.id == bot.id

    tg.start_private_chat(100)
    first = await bot.send_message(100, "hello")
    bold = [MessageEntity(type="bold", offset=0, length=2)]
    second = await bot.send_message(100, "😀 world  ", entities=bold)
    assert (first.message_id, second.message_id) == (1, 2)
    assert second.text == "😀 world"  # Telegram trims surrounding whitespace
    assert second.entities is not None  # offsets count UTF-16 code units: 😀 is two
    assert [(e.type, e.offset, e.length) for e in second.entities] == [("bold", 0, 2)]
    assert tg.texts(100) == ["hello", "😀 world"]
    assert tg.sent[1].entities == [{"type": "bold", "offset": 0, "length": 2}]


async def test_send_message_is_validated_like_telegram(tg: FakeTelegram, bot: Bot) -> None:
    tg.start_private_chat(1)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "😀" * 2049)  # 2049 characters, 4098 UTF-16 units
    await bot.send_message(1, "😀" * 2048)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, "  \n ")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "ab", entities=[MessageEntity(type="bold", offset=1, length=2)])
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(1, "*Hi*.", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="Can't find end of Bold entity"):
        await bot.send_message(1, "*Hi\\.", parse_mode="MarkdownV2")
    sent = await bot.send_message(1, "*Hi*\\.", parse_mode="MarkdownV2")
    assert sent.text == "Hi."
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "foo"'):
        await bot.send_message(1, "<foo>x</foo>", parse_mode="HTML")
    assert len(tg.sent) == 2


async def test_injected_failures_take_no_effect(tg: FakeTelegram, bot: Bot) -> None:
    tg.start_private_chat(5)
    tg.fail_next("sendMessage", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(5, "x")
    assert caught.value.retry_after == 3
    tg.fail_next("sendMessage", status=500)
    with pytest.raises(TelegramServerError):
        await bot.send_message(5, "x")
    assert tg.sent == []
    await bot.send_message(5, "x")
    assert tg.texts(5) == ["x"]
    assert [c.method for c in tg.calls] == ["sendMessage"] * 3


async def test_edit_message_text(tg: FakeTelegram, bot: Bot) -> None:
    tg.start_private_chat(9)
    sent = await bot.send_message(9, "draft")
    edited = await bot.edit_message_text("draft, longer", chat_id=9, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "draft, longer"
    with pytest.raises(TelegramBadRequest, match="message is not modified") as caught:
        await bot.edit_message_text("draft, longer \n", chat_id=9, message_id=sent.message_id)
    assert caught.value.message == NOT_MODIFIED
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=9, message_id=77)
    bold = [MessageEntity(type="bold", offset=0, length=5)]
    await bot.edit_message_text("draft, longer", chat_id=9, message_id=1, entities=bold)
    assert tg.sent[0].edits == ["draft, longer", "draft, longer"]
    assert tg.texts(9) == ["draft, longer"]


async def test_chat_action_commands_and_document(tg: FakeTelegram, bot: Bot) -> None:
    tg.start_private_chat(3)
    assert await bot.send_chat_action(3, "typing")
    assert tg.chat_actions == [(3, "typing")]
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert tg.commands == [{"command": "start", "description": "Start"}]
    doc = BufferedInputFile(b"# notes\n", filename="notes.md")
    message = await bot.send_document(3, doc, caption="your export")
    assert message.document is not None
    assert message.document.file_name == "notes.md"
    assert (tg.documents[0].filename, tg.documents[0].data) == ("notes.md", b"# notes\n")
    assert tg.documents[0].caption == "your export"


async def test_a_private_chat_exists_only_once_the_user_started_it(
    tg: FakeTelegram, bot: Bot
) -> None:
    group = -100_321
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(11, "who are you?")  # a user the bot has never seen
    tg.push_update({"message": tg.make_message(11, "hi all", chat_id=group, chat_type="group")})
    for attempt in (
        bot.send_message(11, "psst"),
        bot.send_document(11, BufferedInputFile(b"x", filename="x.txt")),
        bot.send_chat_action(11, "typing"),
    ):
        with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
            await attempt
    await bot.send_message(group, "the group is fine")
    tg.push_text(11, "/start")  # a private message starts the chat
    await bot.send_message(11, "hello")
    tg.blocked_by.add(11)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(11, "still there?")
    assert tg.texts(11) == ["hello"]
    assert tg.texts(group) == ["the group is fine"]
    assert tg.documents == []


async def test_a_group_button_can_be_pressed_by_anyone_in_the_group(
    tg: FakeTelegram, bot: Bot
) -> None:
    group = -100_321
    tg.push_update({"message": tg.make_message(11, "hi", chat_id=group, chat_type="supergroup")})
    keyboard = {"inline_keyboard": [[{"text": "Next", "callback_data": "page:2"}]]}
    earlier = tg.add_bot_message(group, "left by an older release", keyboard)
    query_id = tg.push_callback(12, "page:2", earlier.message_id, chat_id=group)
    (update,) = [u for u in await bot.get_updates() if u.callback_query is not None]
    query = update.callback_query
    assert query is not None
    assert (query.id, query.from_user.id, query.data) == (query_id, 12, "page:2")
    assert isinstance(query.message, Message)
    assert (query.message.chat.id, query.message.chat.type) == (group, "supergroup")
    assert query.message.text == "left by an older release"
    assert query.message.reply_markup is not None


async def test_polling_dispatcher_receives_pushed_text(tg: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()
    received: list[str | None] = []

    @dp.message()
    async def echo(message: Message) -> None:
        received.append(message.text)
        await message.answer(f"got {message.text}")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        tg.push_text(7, "/start")
        tg.push_update({"edited_message": tg.make_message(7, "edited")})  # not allowed: dropped
        tg.push_text(7, "second")
        await tg.wait_for_messages(7, 2, timeout=5)
        assert received == ["/start", "second"]
        assert tg.texts(7) == ["got /start", "got second"]
        assert tg.sent[0].message_id == 4  # the three user messages took ids 1-3
        await tg.wait_for(lambda: tg.updates_pending() == 0, timeout=5)
    finally:
        await dp.stop_polling()
        await polling
    poll = tg.method_calls("getUpdates")[0]
    assert poll.params["allowed_updates"] == ["message"]


async def test_second_long_poll_terminates_the_first(tg: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda: len(tg.method_calls("getUpdates")) == 1)
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError):
        await first


# ---- Telegram Stars payments ---------------------------------------------------------
class Updates:
    """getUpdates as a bot polls: each call confirms what the previous one returned."""

    def __init__(self, bot: Bot) -> None:
        self.bot, self.offset = bot, 0

    async def take(self, allowed_updates: list[str] | None = None) -> list[Update]:
        got = await self.bot.get_updates(self.offset, timeout=0, allowed_updates=allowed_updates)
        self.offset = got[-1].update_id + 1 if got else self.offset
        return got


def stars(amount: int) -> list[LabeledPrice]:
    return [LabeledPrice(label="Tokens", amount=amount)]


async def send_stars_invoice(bot: Bot, chat_id: int, amount: int = 50) -> Message:
    return await bot.send_invoice(
        chat_id, "100k tokens", "Tokens for answers", "order-1", "XTR", stars(amount)
    )


async def test_send_invoice_takes_only_stars_invoices(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await send_stars_invoice(bot, 5)  # a private chat exists only once started
    tg.start_private_chat(5)
    sent = await send_stars_invoice(bot, 5)
    assert sent.invoice is not None
    assert (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 50)
    assert (sent.invoice.title, sent.invoice.start_parameter) == ("100k tokens", "")
    assert tg.invoices == [
        SentInvoice(5, sent.message_id, "100k tokens", "Tokens for answers", "order-1", "XTR",
                    [{"label": "Tokens", "amount": 50}], 50)
    ]  # fmt: skip

    def invoice(**changes: object) -> dict[str, object]:
        fields: dict[str, object] = {"chat_id": 5, "title": "T", "description": "D"}
        fields |= {"payload": "p", "currency": "XTR", "prices": stars(1)}
        return fields | changes

    refused = [
        ({"currency": "USD"}, "PAYMENT_PROVIDER_INVALID"),  # no provider for real money
        ({"provider_token": "284685063:TEST:x"}, "PAYMENT_PROVIDER_INVALID"),
        ({"prices": stars(1) * 2}, "STARS_INVOICE_INVALID"),  # Stars: one price only
        ({"max_tip_amount": 5}, "STARS_INVOICE_INVALID"),
        ({"prices": stars(0)}, "total price must be positive"),
        ({"prices": stars(-3)}, "total price must be positive"),
        ({"prices": []}, "total price must be positive"),
        ({"title": "x" * 33}, "INVOICE_TITLE_INVALID"),
        ({"description": "x" * 256}, "INVOICE_DESCRIPTION_INVALID"),
        ({"payload": "я" * 65}, "INVOICE_PAYLOAD_INVALID"),  # 130 bytes
        ({"title": ""}, 'parameter "title" is required'),
        ({"payload": ""}, 'parameter "payload" is required'),
        ({"message_thread_id": 77}, "message thread not found"),
    ]
    for changes, error in refused:
        with pytest.raises(TelegramBadRequest, match=error):
            await bot.send_invoice(**invoice(**changes))  # type: ignore[arg-type]
    await bot.send_invoice(**invoice(title="x" * 32, payload="я" * 64, provider_token=""))  # type: ignore[arg-type]
    assert len(tg.invoices) == 2

    not_pay_first = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Help", callback_data="help")]]
    )
    with pytest.raises(TelegramBadRequest, match="REPLY_MARKUP_BUY_EMPTY"):
        await bot.send_invoice(**invoice(reply_markup=not_pay_first))  # type: ignore[arg-type]
    pay_first = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Pay", pay=True)]])
    with_button = await bot.send_invoice(**invoice(reply_markup=pay_first))  # type: ignore[arg-type]
    assert with_button.reply_markup is not None
    assert with_button.reply_markup.model_dump() == pay_first.model_dump()

    raw = {"chat_id": 5, "title": "T", "description": "D", "payload": "p", "currency": "XTR"}
    async with aiohttp.ClientSession() as session:
        url = f"{tg.base_url}/bot123456:TEST/sendInvoice"
        async with session.post(url, json=raw | {"prices": [{"label": "x", "amount": 1.5}]}) as r:
            assert r.status == 400
            assert "amount" in (await r.json())["description"]
        async with session.post(url, json=raw | {"prices": [{"label": "x", "amount": 7}]}) as r:
            assert (await r.json())["result"]["invoice"]["total_amount"] == 7

    tg.blocked_by.add(5)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await send_stars_invoice(bot, 5)
    assert len(tg.invoices) == 4


async def test_a_dispatcher_takes_a_stars_payment(tg: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()
    paid: list[Message] = []

    @dp.pre_checkout_query()
    async def approve(query: PreCheckoutQuery) -> None:
        if query.invoice_payload == "order-1":
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="This offer has expired")

    @dp.message(F.successful_payment)
    async def credit(message: Message) -> None:
        paid.append(message)

    tg.start_private_chat(7)
    await send_stars_invoice(bot, 7, amount=250)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        charge = await tg.checkout(tg.invoices[0], language_code="ru")
        assert charge is not None
        assert charge.startswith("stx")
        await tg.wait_for(lambda: bool(paid), timeout=5, what="successful_payment handled")
        stale = tg.push_pre_checkout(7, "order-0", 250)  # an invoice from an older release
        assert await tg.complete_payment(stale) is None
    finally:
        await dp.stop_polling()
        await polling
    allowed = tg.method_calls("getUpdates")[0].params["allowed_updates"]
    assert sorted(allowed) == ["message", "pre_checkout_query"]
    (message,) = paid
    payment = message.successful_payment
    assert payment is not None
    assert (message.chat.id, message.chat.type, message.from_user and message.from_user.id) == (
        7, "private", 7
    )  # fmt: skip
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == (
        "XTR", 250, "order-1"
    )  # fmt: skip
    assert (payment.telegram_payment_charge_id, payment.provider_payment_charge_id) == (charge, "")
    assert list(tg.payments) == [charge]
    answer = tg.pre_checkout_answers[stale]
    assert (answer["ok"], answer["error_message"]) == ("false", "This offer has expired")
    assert not tg.pre_checkouts[stale].approved


async def test_pre_checkout_answers_are_strict(tg: FakeTelegram, bot: Bot) -> None:
    updates = Updates(bot)
    tg.start_private_chat(8)
    await send_stars_invoice(bot, 8)
    invoice = tg.invoices[0]
    query_id = tg.pay(invoice)
    (update,) = await updates.take()
    query = update.pre_checkout_query
    assert query is not None
    assert (query.id, query.from_user.id, query.currency) == (query_id, 8, "XTR")
    assert (query.total_amount, query.invoice_payload) == (50, "order-1")

    with pytest.raises(TelegramBadRequest, match='parameter "error_message" is required'):
        await bot.answer_pre_checkout_query(query_id, ok=False)
    assert await bot.answer_pre_checkout_query(query_id, ok=False, error_message="Sold out")
    with pytest.raises(TelegramBadRequest) as caught:  # a query is answered once
        await bot.answer_pre_checkout_query(query_id, ok=True)
    assert caught.value.message == QUERY_ID_INVALID
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_pre_checkout_query("12345", ok=True)
    assert await tg.complete_payment(query_id) is None  # declined: nothing is paid
    assert tg.pre_checkout_answers[query_id]["error_message"] == "Sold out"
    assert tg.payments == {}
    assert await updates.take() == []

    tg.pre_checkout_timeout = 0.2  # Telegram waits 10 seconds
    late = tg.pay(invoice, charge_id="stx-late")
    with pytest.raises(AssertionError, match="Telegram cancels the payment"):
        await tg.complete_payment(late)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_pre_checkout_query(late, ok=True)
    assert late not in tg.pre_checkout_answers
    assert tg.payments == {}


async def test_pre_checkout_queries_follow_allowed_updates(tg: FakeTelegram, bot: Bot) -> None:
    updates = Updates(bot)
    tg.push_pre_checkout(9, "order-1", 10)
    assert await updates.take(allowed_updates=["message"]) == []  # dropped, as on Telegram
    query_id = tg.push_pre_checkout(9, "order-2", 10)
    (update,) = await updates.take(allowed_updates=[])  # Telegram's default set has it
    assert update.pre_checkout_query is not None
    assert update.pre_checkout_query.id == query_id


async def test_payments_redeliveries_and_refunds(tg: FakeTelegram, bot: Bot) -> None:
    updates = Updates(bot)
    tg.start_private_chat(10, 11)
    await send_stars_invoice(bot, 10, amount=30)

    async def paid_by(user_id: int, charge_id: str | None = None) -> str:
        query_id = tg.pay(tg.invoices[0], user_id, charge_id=charge_id)
        await updates.take()
        await bot.answer_pre_checkout_query(query_id, ok=True)
        charge = await tg.complete_payment(query_id)
        assert charge is not None
        return charge

    first = await paid_by(10)
    (update,) = await updates.take()
    assert update.message is not None
    assert update.message.successful_payment is not None
    assert update.message.successful_payment.telegram_payment_charge_id == first
    tg.push_payment_again(first)  # a redelivery: the very same message
    (again,) = await updates.take()
    assert again.update_id != update.update_id
    assert again.message == update.message
    with pytest.raises(AssertionError, match="paid already"):
        tg.pay(tg.invoices[0], charge_id=first)

    other = await paid_by(11, charge_id="stx-other")  # someone else paid the same invoice
    assert other == "stx-other"
    assert len(await updates.take()) == 1
    assert len({first, other}) == len(tg.payments) == 2

    with pytest.raises(TelegramBadRequest) as not_found:  # another user's charge
        await bot.refund_star_payment(10, other)
    assert not_found.value.message == CHARGE_NOT_FOUND
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(10, "stx-never-paid")
    assert await bot.refund_star_payment(10, first)
    with pytest.raises(TelegramBadRequest) as twice:
        await bot.refund_star_payment(10, first)
    assert twice.value.message == CHARGE_ALREADY_REFUNDED
    (refund_update,) = await updates.take()  # Telegram reports the refund
    refund_message = refund_update.message
    assert refund_message is not None
    refunded = refund_message.refunded_payment
    assert refunded is not None
    assert (refund_message.chat.id, refunded.telegram_payment_charge_id) == (10, first)
    assert (refunded.currency, refunded.total_amount, refunded.invoice_payload) == (
        "XTR", 30, "order-1"
    )  # fmt: skip

    tg.refund_messages = False
    tg.push_refund(other)  # refunded by Telegram support, not by the bot
    assert await updates.take() == []
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(11, other)
    assert [(r.user_id, r.charge_id, r.total_amount, r.by_bot) for r in tg.refunds] == [
        (10, first, 30, True), (11, other, 30, False)
    ]  # fmt: skip


async def test_a_deleted_invoice_cannot_be_paid(tg: FakeTelegram, bot: Bot) -> None:
    group = -100_500
    tg.push_update({"message": tg.make_message(12, "hi", chat_id=group, chat_type="group")})
    sent = await send_stars_invoice(bot, group)
    with pytest.raises(AssertionError, match="needs the paying user_id"):
        tg.pay(tg.invoices[0])
    query_id = tg.pay(tg.invoices[0], 12)  # anyone in the group may pay
    assert tg.pre_checkouts[query_id].chat_id == group
    assert await bot.delete_message(group, sent.message_id)
    assert tg.invoices[0].deleted
    with pytest.raises(AssertionError, match="was deleted"):
        tg.pay(tg.invoices[0], 12)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(group, sent.message_id)


# ---- LLM -----------------------------------------------------------------------------
async def test_stream_with_usage(llm: FakeLLM) -> None:
    async with openai_client(llm) as client:
        stream = await client.chat.completions.create(
            model="fake-model",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces: list[str] = []
        usage = None
        async for chunk in stream:
            assert chunk.model == "fake-model"
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            usage = chunk.usage or usage
    assert "".join(pieces) == "Echo: hi there"
    assert pieces[0] == "Echo:"  # chunk_size=5
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2, 4, 6)
    assert llm.last_request["stream"] is True


async def test_non_stream_scripted_reply_and_models(llm: FakeLLM) -> None:
    llm.queue_reply("scripted")
    async with openai_client(llm) as client:
        first = await client.chat.completions.create(model="m1", messages=HI)
        second = await client.chat.completions.create(model="m2", messages=HI)
        models = [m.id async for m in client.models.list()]
    assert first.choices[0].message.content == "scripted"
    assert second.choices[0].message.content == "Echo: hi there"
    assert (first.model, second.model) == ("m1", "m2")
    assert second.usage is not None
    assert second.usage.total_tokens == 6
    assert models == ["fake-model", "gpt-4o-mini"]
    assert llm.calls == 2


async def test_llm_errors(llm: FakeLLM) -> None:
    llm.fail_next(500)
    llm.fail_next(429, retry_after=0.05)
    async with openai_client(llm) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=HI)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="m", messages=HI)
    assert caught.value.response.headers["retry-after"] == "0.05"
    assert caught.value.code == "rate_limit_exceeded"

    llm.fail_next(429, retry_after=0.05)  # the client retries after the given delay
    async with openai.AsyncOpenAI(base_url=llm.base_url, api_key="t", max_retries=1) as client:
        reply = await client.chat.completions.create(model="m", messages=HI)
    assert reply.choices[0].message.content == "Echo: hi there"
    assert llm.calls == 4


async def test_stalls_time_out_and_end_cleanly(llm: FakeLLM) -> None:
    llm.stall_next(5, after_chunks=2)
    async with openai_client(llm, timeout=0.3) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=HI,
            stream=True,
        )
        got: list[str] = []

        async def read_all() -> None:
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content or "")

        with pytest.raises(openai.APITimeoutError):
            await read_all()
        assert got == ["", "Echo:"]

        llm.stall_next(5)
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=HI)

        llm.stall_next(5)
        request = client.chat.completions.create(model="m", messages=HI)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(request, 0.2)
    await llm.wait_for_requests(3)
    await llm.wait_for(lambda: llm.disconnects == 3, 2, "the server to notice the hang-ups")


async def test_shutdown_with_a_stalled_request_is_quick() -> None:
    llm = await FakeLLM().start()
    async with openai_client(llm) as client:
        llm.stall_next(30)
        request = asyncio.create_task(client.chat.completions.create(model="m", messages=HI))
        await llm.wait_for_requests(1)
        started = time.monotonic()
        await llm.close()
        assert time.monotonic() - started < 1
        with pytest.raises(openai.APIStatusError, match="shutting down"):
            await request
