"""/model and /limits: the user's own model and limits."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.budgets import render_budget, subscription_line
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import PrivateChat, answer_privately, say_privately
from ai_tg_bot.i18n import _
from ai_tg_bot.storage import utc_now


def offered_models(deps: Deps, current: str) -> list[str]:
    """LLM_MODELS as /model offers them: those the LLM server listed at start (all when
    it did not say), and the user's own."""
    served = deps.llm.served_models
    return [m for m in deps.settings.llm_models if served is None or m in served or m == current]


async def model(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/model` lists the allowed models; `/model <name>` switches (answered privately).
    A model the LLM server did not list at start is neither offered nor taken."""
    wanted = (command.args or "").strip()
    current = (await deps.accounts.limits(user_id)).model
    offered = offered_models(deps, current)
    listing = "\n".join(f"{'✅' if name == current else '▫️'} {name}" for name in offered)
    if not wanted:
        reply = _("Models:\n{listing}\n\nSwitch with /model <name>.").format(listing=listing)
    elif wanted not in offered:
        reply = _("Unknown model “{model}”. Choose one of:\n{listing}").format(
            model=wanted[:100], listing=listing
        )
    else:
        await deps.accounts.set_model(user_id, wanted)
        reply = _("Model switched to {model}.").format(model=wanted)
    await say_privately(message, user_id, bot, reply)


async def limits(message: Message, user_id: int, bot: Bot, deps: Deps) -> None:
    """The user's limits and today's usage against them, with the token budgets and
    their bought credit (privately)."""
    usage = await deps.accounts.usage(user_id)
    own, spent = await deps.accounts.budget(user_id)
    now = utc_now()
    budget = render_budget(own, spent, now, can_buy=bool(deps.settings.stars_packs))
    text = texts.render_limits(own, usage.messages_today) + "\n" + budget
    subscribed = [subscription_line(s, now) for s in await deps.subscriptions.current(user_id)]
    if not subscribed and deps.settings.subscription_plans and own.has_budget:
        subscribed = [_("Tokens every month: /subscribe")]
    text += "".join("\n" + line for line in subscribed)

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(_("📏 Your limits") + "\n" + text)

    await answer_privately(message, user_id, bot, deliver)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(model, Command("model"), F.from_user.id.as_("user_id"))
    router.message.register(limits, Command("limits"), F.from_user.id.as_("user_id"))
    return router
