"""How an answer ended, shown by its view (bot.reply, bot.drafts): the answer (with its
buttons, when complete), or what arrived and a line saying why it stopped or failed, a
voice problem, or a refusal."""

from __future__ import annotations

from typing import Protocol

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.formatting import with_tools
from ai_tg_bot.turns import TurnResult


class Ending(Protocol):
    """What showing an ending needs of a view (bot.reply.StreamingReply)."""

    chat_id: int

    async def finish(self, markdown: str | None = None, *, buttons: bool = False) -> None:
        """Send the final text (`buttons`: with the answer's buttons)."""

    async def send_notice(self, text: str) -> None:
        """Send a separate short line."""


async def show_ending(view: Ending, result: TurnResult) -> None:
    """Show how an answer ended: the answer, or what arrived and a line about the error.
    Only a complete answer gets the answer's buttons (a stopped or cut one's line names
    /retry)."""
    if result.stopped:
        if result.reply is not None:
            await view.finish(with_tools(result.reply, result.tools))
        await view.send_notice(texts.STOPPED if result.reply else texts.STOPPED_EARLY)
        return
    if result.reply is not None:
        await view.finish(with_tools(result.reply, result.tools), buttons=True)
        if result.usage.cut_at_limit:
            await view.send_notice(texts.ANSWER_AT_LIMIT)
        return
    if result.voice_problem is not None:
        await view.send_notice(texts.voice_notice(result.voice_problem))
        return
    if result.refusal is not None:
        # The user's own budget is theirs: a group's refusal goes to the asker alone
        # (bot.notices); a group view reached anyway says only that a limit applies.
        await view.send_notice(result.refusal if view.chat_id > 0 else texts.OVER_LIMIT_IN_GROUP)
        return
    shown_partly = bool(result.partial.strip())
    if shown_partly:
        await view.finish(result.partial)
    if result.error is not None:
        error = result.error
        await view.send_notice(error.cut_off_message if shown_partly else error.user_message)
