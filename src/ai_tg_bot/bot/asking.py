"""What a question carries besides its text: whose conversation it joins, who asked it,
and the message it replies to (issue 27).

In a private chat the conversation is the user's own. In a group (and in each forum
topic of a supergroup) it is the group's shared conversation: owned by the group's chat
id, each question stored with the first name of the member who asked, who is counted and
charged for it. In every chat, a question that replies to a message (or quotes part of
one) carries that text, marked as such and cut to REPLY_CONTEXT_CHARS, so the model sees
what is meant, and /retry and later turns too.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.enums import ChatType
from aiogram.types import Message

from ai_tg_bot.storage import DialogueStore

# The most of a replied-to message (or quote) given with a question.
REPLY_CONTEXT_CHARS = 1_500
# A member's name as the group's conversation shows it.
NAME_CHARS = 64


@dataclass(frozen=True, slots=True)
class Asking:
    """Where a question goes: the conversation's owner (the user, or the group's chat
    id), the member who asked in a group (None in a private chat), and the topic."""

    owner_id: int
    author_id: int | None
    thread_id: int | None


def is_group(message: Message) -> bool:
    """A group or supergroup (its conversation is shared by its members)."""
    return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def asking(message: Message, user_id: int) -> Asking:
    """Whose conversation `message` joins, who asked, and in which topic: a private
    chat's topic, or a forum supergroup's topic."""
    thread = message.message_thread_id if message.is_topic_message else None
    if is_group(message):
        return Asking(message.chat.id, user_id, thread)
    return Asking(user_id, None, thread)


def asker_name(message: Message) -> str:
    """The member's first name, on one line and short (how the group's history names them)."""
    user = message.from_user
    name = " ".join((user.first_name if user else "").split()) or "?"
    return name[:NAME_CHARS]


async def question_text(
    message: Message, text: str, storage: DialogueStore, *, kind: str | None
) -> str:
    """The question as stored and sent: the replied-to text (or quote) first, then, in a
    group, the asker's name before their words. A voice message's words come later
    (its transcript), so it carries neither."""
    if kind == "voice":
        return text
    said = f"{asker_name(message)}: {text}" if is_group(message) else text
    replied = await replied_text(message, storage)
    if replied is None:
        return said
    who, quoted = replied
    block = f"[In reply to {who}: «{_cut(quoted)}»]"
    return f"{block}\n\n{said}" if said else block


async def replied_text(message: Message, storage: DialogueStore) -> tuple[str, str] | None:
    """(whose, what) of the message this one replies to or quotes; None when none. A
    reply to a photo or document the bot stored gives what was stored for it."""
    replied = message.reply_to_message
    quote = message.quote
    if replied is None and (quote is None or not quote.text):
        return None
    if replied is not None and replied.forum_topic_created is not None:
        return None  # a forum topic's messages "reply" to its first message: no reply
    who = "?"
    if replied is not None and replied.from_user is not None:
        who = " ".join(replied.from_user.first_name.split())[:NAME_CHARS] or "?"
    if quote is not None and quote.text:
        return who, quote.text
    assert replied is not None
    text = replied.text or replied.caption or ""
    if replied.photo or replied.document or replied.voice:
        # What the bot stored for it (a document's text, a transcript), if it did.
        stored = await storage.stored_question(message.chat.id, replied.message_id)
        text = stored or text
    return (who, text) if text.strip() else None


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= REPLY_CONTEXT_CHARS else text[: REPLY_CONTEXT_CHARS - 1] + "…"
