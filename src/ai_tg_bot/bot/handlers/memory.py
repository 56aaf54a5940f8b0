"""/remember and /memory: short facts about the user, kept across conversations and given
to the model in each of their private conversations (storage.MemoryStore).

`/remember <fact>` keeps one; `/memory` lists them with a delete button each (only in the
private chat: they are the user's own); `/memory off` stops giving them to the model
(and the model's `remember` tool from adding any), `/memory on` brings them back. A
group's conversation never reads or writes them, and from a group only the list is
asked for (it comes privately): a change is made in the private chat.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.asking import is_group
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.handlers.voice import OFF_WORDS, ON_WORDS
from ai_tg_bot.bot.private import PrivateChat, answer_privately, say_privately
from ai_tg_bot.i18n import N_, _, ngettext, number
from ai_tg_bot.storage import FACT_MAX_CHARS, Fact

# A delete button's label: the fact, cut.
BUTTON_FACT_CHARS = 40
# The most facts one /memory message lists, and the most characters of them (Telegram
# takes 4096 a message and 100 buttons): the newest are listed, the rest counted.
LISTED_FACTS = 50
LISTED_CHARS = 3_000


# /remember and /memory on|off in a group: they change one user's memory, so only in
# their private chat (nothing is stored from the group, nothing said about it there).
PRIVATE_ONLY = N_("🔒 Your memory is changed in our private chat only: send it to me there.")


class ForgetFactCallback(CallbackData, prefix="mem"):
    """A /memory delete button, bound to the user it was shown to."""

    user_id: PositiveId
    fact_id: PositiveId


async def remember(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/remember <fact>`: keep a fact about the user (in their private chat only)."""
    if is_group(message):
        await message.answer(_(PRIVATE_ONLY))
        return
    text = command.args or ""
    kept = await deps.memory.remember(user_id, text, "command")
    if kept.fact is None:
        reply = _(
            "Usage: /remember <a fact about you>, e.g. /remember I live in Berlin and "
            "prefer metric units. /memory lists what I remember."
        )
    elif kept.known:
        reply = _("🧠 I remember that already. /memory lists everything I remember.")
    else:
        reply = _("🧠 Remembered. I'll keep it in mind in every conversation.")
        if kept.dropped:
            reply += " " + ngettext(
                "{count} old fact was forgotten to make room (at most {limit} are kept).",
                "{count} old facts were forgotten to make room (at most {limit} are kept).",
                kept.dropped,
            ).format(count=number(kept.dropped), limit=number(deps.settings.memory_max_facts))
    if kept.cut:
        reply += "\n" + _("It was long, so I kept its first {count} characters.").format(
            count=number(FACT_MAX_CHARS)
        )
    if kept.fact is not None and not kept.enabled:
        reply += "\n" + _("Your memory is off, so I don't use it now: /memory on.")
    await say_privately(message, user_id, bot, reply)


async def memory(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/memory` lists the facts (a delete button each); `/memory on|off` switches."""
    wanted = (command.args or "").strip().lower()
    if wanted and is_group(message):
        await message.answer(_(PRIVATE_ONLY))  # nothing changes from a group
        return
    if wanted in ON_WORDS or wanted in OFF_WORDS:
        on = wanted in ON_WORDS
        await deps.accounts.set_memory(user_id, on)
        reply = (
            _("🧠 Memory on: I use what I remember about you in your conversations.")
            if on
            else _(
                "🧠 Memory off: I don't use what I remember about you and add nothing to "
                "it. Your facts are kept: /memory lists them, /memory on brings them back."
            )
        )
        await say_privately(message, user_id, bot, reply)
        return
    if wanted:
        usage = _("Usage: /memory, /memory on, /memory off; /remember <fact> adds one.")
        await say_privately(message, user_id, bot, usage)
        return
    facts, enabled = await deps.memory.facts(user_id)

    async def deliver(chat: PrivateChat) -> None:
        text, markup = memory_page(user_id, facts, enabled)
        await chat.answer(text, reply_markup=markup)

    await answer_privately(message, user_id, bot, deliver)


def memory_page(
    user_id: int, facts: list[Fact], enabled: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /memory message: its text and a delete button per fact listed."""
    shown = listed(facts)
    return listing(facts, shown, enabled), keyboard(user_id, shown)


def listing(facts: list[Fact], shown: list[Fact], enabled: bool) -> str:
    """The /memory text: whether memory is on, then each fact `shown` (the rest counted)."""
    state = (
        _("🧠 Memory is on: I use these facts in your conversations (/memory off stops it).")
        if enabled
        else _("🧠 Memory is off: I don't use these facts now (/memory on).")
    )
    if not facts:
        return (
            state
            + "\n\n"
            + _("I don't remember anything about you yet. Add a fact with /remember <fact>.")
        )
    lines = [f"{number(i)}. {fact.text}" for i, fact in enumerate(shown, 1)]
    if len(shown) < len(facts):
        older = len(facts) - len(shown)
        lines.insert(
            0,
            ngettext(
                "(and {count} older fact: /export has them all)",
                "(and {count} older facts: /export has them all)",
                older,
            ).format(count=number(older)),
        )
    hint = _("Tap a fact to delete it; /remember <fact> adds one; /forget deletes them all.")
    return state + "\n\n" + "\n".join(lines) + "\n\n" + hint


def listed(facts: list[Fact]) -> list[Fact]:
    """The newest facts that fit one message (LISTED_FACTS, LISTED_CHARS), oldest first."""
    shown: list[Fact] = []
    room = LISTED_CHARS
    for fact in reversed(facts[-LISTED_FACTS:]):
        room -= len(fact.text) + 6
        if room < 0:
            break
        shown.append(fact)
    return shown[::-1]


def keyboard(user_id: int, shown: list[Fact]) -> InlineKeyboardMarkup | None:
    """One delete button per fact listed."""
    if not shown:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"🗑 {number(i)}. {_cut(fact.text)}",
                    callback_data=ForgetFactCallback(user_id=user_id, fact_id=fact.id).pack(),
                )
            ]
            for i, fact in enumerate(shown, 1)
        ]
    )


async def forget_fact(
    callback: CallbackQuery, callback_data: ForgetFactCallback, deps: Deps
) -> None:
    """A /memory button: that fact is deleted, and the list shown again without it."""
    if callback.from_user.id != callback_data.user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return
    user_id = callback_data.user_id
    deleted = await deps.memory.delete_fact(user_id, callback_data.fact_id)
    if deleted is None:
        await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return
    await callback.answer(_("Forgotten: {fact}").format(fact=_cut(deleted)))
    facts, enabled = await deps.memory.facts(user_id)
    if isinstance(callback.message, Message):
        text, markup = memory_page(user_id, facts, enabled)
        await callback.message.edit_text(text, reply_markup=markup)


def _cut(text: str) -> str:
    return text if len(text) <= BUTTON_FACT_CHARS else text[: BUTTON_FACT_CHARS - 1] + "…"


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    user = F.from_user.id.as_("user_id")
    router.message.register(remember, Command("remember"), user)
    router.message.register(memory, Command("memory"), user)
    router.callback_query.register(forget_fact, ForgetFactCallback.filter())
    return router
