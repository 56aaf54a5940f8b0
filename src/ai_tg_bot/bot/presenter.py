"""Where each answer is shown: a draft in a private chat, edits in a group."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import Message

from ai_tg_bot.bot.answer_buttons import AnswerButtons
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.drafts import DraftReply
from ai_tg_bot.bot.notices import MemberNoticeView
from ai_tg_bot.bot.reply import StreamingReply
from ai_tg_bot.bot.speaking import SpokenView, VoiceReplies
from ai_tg_bot.config import Settings
from ai_tg_bot.storage import Question


class TelegramPresenter:
    """Shows each answer in the chat its question came from (or the current chat)."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        edit_interval: float,
        capabilities: Capabilities | None = None,
        voice: VoiceReplies | None = None,
        followups: bool = False,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.edit_interval = edit_interval
        self.capabilities = capabilities or Capabilities("off")
        # TTS_MODEL set: answers in private chats are also spoken for users who asked.
        self.voice = voice
        # FOLLOWUPS=on: a private chat's answers get suggested questions under them.
        self.followups = followups

    @classmethod
    def for_message(
        cls,
        bot: Bot,
        message: Message,
        settings: Settings,
        capabilities: Capabilities | None,
        voice: VoiceReplies | None = None,
    ) -> TelegramPresenter:
        """Answers shown in the chat `message` came from, at the configured edit pace."""
        return cls(
            bot,
            message.chat.id,
            edit_interval=settings.stream_edit_interval_seconds,
            capabilities=capabilities,
            voice=voice,
            followups=settings.followups,
        )

    def view(self, question: Question) -> StreamingReply | SpokenView | MemberNoticeView:
        """A streaming reply for this question's answer: a draft in a private chat (a
        user's chat id is positive, a group's negative), edits in a group; in the topic
        the question was asked in. In a private chat, with TTS_MODEL set, the answer is
        also spoken for a user who turned /voice on (or /voice auto, when the question
        was a voice message: bot.speaking), and carries its buttons (bot.answer_buttons).
        In a group, a question refused for its asker's budget is told to them alone."""
        chat_id = question.telegram_chat_id or self.chat_id
        # A topic conversation's answers go to its topic: a private chat's, or a forum
        # supergroup's (each its own conversation of the group).
        thread_id = question.telegram_thread_id
        reply: StreamingReply
        if chat_id > 0 and self.capabilities.drafts:
            reply = DraftReply(
                self.bot,
                chat_id,
                draft_id=question.seq,
                edit_interval=self.edit_interval,
                capabilities=self.capabilities,
                thread_id=thread_id,
            )
        else:
            reply = StreamingReply(
                self.bot,
                chat_id,
                edit_interval=self.edit_interval,
                capabilities=self.capabilities,
                thread_id=thread_id,
            )
        if chat_id > 0:  # a private chat's id is its user's
            reply.buttons = AnswerButtons(
                self.bot, chat_id, question.seq + 1, followups=self.followups
            )
        elif question.refusal is not None and question.author_id is not None:
            return MemberNoticeView(reply, self.capabilities, question.author_id)
        if self.voice is not None and chat_id > 0:
            return SpokenView(reply, self.voice, chat_id, to_voice=question.kind == "voice")
        return reply
