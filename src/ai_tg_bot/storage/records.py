"""What DialogueStore hands out and takes in: plain records, errors, and input cleaning."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ai_tg_bot.errors import BotError
from ai_tg_bot.limits import QuotaExceededError, UserLimits

HistoryMessage = dict[str, str]
# What a message carries besides its text (a photo, a voice note), as stored.
Attachment = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    """What one LLM call needs: prompt, the history that fits the budget, and the model.

    `history` is oldest first; `omitted` counts active messages left out of this request
    by the context budget (they stay stored). `attachments` holds those of the history
    messages that have any, by their position in `history`.
    """

    system_prompt: str
    history: list[HistoryMessage]
    model: str
    omitted: int = 0
    attachments: dict[int, list[Attachment]] = field(default_factory=dict)
    # The MCP tools the user may use (user_settings.allowed_tools; None: the default).
    allowed_tools: tuple[str, ...] | None = None
    # The user's memory facts, newest first (none in a group's conversation, or with
    # /memory off), and the conversation's summary of what left the window.
    memory: tuple[str, ...] = ()
    summary: str | None = None
    # Whether the user's memory is on (the `remember` tool is offered only then).
    remembers: bool = False


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens the LLM reported for one answer."""

    model: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class DialogInfo:
    """What `/status` shows."""

    active_count: int
    max_history_messages: int
    total_characters: int
    deleted_count: int
    first_message_at: datetime | None
    last_message_at: datetime | None
    system_prompt: str
    is_default_prompt: bool
    messages_today: int
    total_tokens: int
    limits: UserLimits
    # The current conversation's title (None: untitled), and how many the user has.
    conversation_title: str | None = None
    conversations: int = 0


def without_nul(text: str) -> str:
    """The text without NUL characters, which PostgreSQL's TEXT cannot hold (the one place
    they are stripped; clean_text and every input path use it)."""
    return text.replace("\x00", "")


class EmptyTextError(BotError):
    """Text that is empty once NUL and blanks are gone: nothing to store (a user's empty
    question gets one line saying so; any other ValueError is a bug, not this)."""


def clean_text(text: str, *, what: str = "content", allow_empty: bool = False) -> str:
    """Strip NUL (PostgreSQL TEXT cannot hold it); refuse text that is empty after that.

    With `allow_empty` (a photo without a caption) blank text becomes "" instead.
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, not {type(text).__name__}")
    cleaned = without_nul(text)
    if not cleaned.strip():
        if allow_empty:
            return ""
        raise EmptyTextError(f"{what} must not be empty")
    return cleaned


# A question reaches the LLM at most this many times in all (crashed or failed answerers).
MAX_ASKS = 3


@dataclass(frozen=True, slots=True)
class Question:
    """A user message waiting for (or being given) an answer.

    A voice question is stored before it is transcribed (so a user over a limit costs
    nothing and a crash loses nothing): its `content` stays empty until the turn that
    answers it has the transcript.
    """

    seq: int
    content: str
    telegram_chat_id: int | None
    kind: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # Its conversation, and the topic thread its answer goes to (None outside topics).
    conversation_id: int | None = None
    telegram_thread_id: int | None = None
    # Set when the user's token budget was spent by the time its turn came: it is not
    # sent to the LLM (storage.budgets).
    refusal: QuotaExceededError | None = None
    # How many times a turn took it up, this time included (messages.attempts).
    attempts: int = 0
    # In a group's conversation: the member who asked (counted and charged for it).
    author_id: int | None = None

    @property
    def exhausted(self) -> bool:
        """Taken up more than MAX_ASKS times (its answerers failed or died): it is failed
        with a line instead of being sent to the LLM again."""
        return self.attempts > MAX_ASKS

    @property
    def needs_transcript(self) -> bool:
        """A voice message not transcribed yet."""
        return self.kind == "voice" and not self.content


@dataclass(frozen=True, slots=True)
class NewQuestion:
    """A user's message arriving to be answered (text, or a photo's caption, or a voice
    message before its transcript), with where it came from in Telegram."""

    user_id: int
    content: str
    telegram_chat_id: int | None = None
    telegram_message_id: int | None = None
    kind: str | None = None  # "photo", "voice", "document"; None: text
    attachments: tuple[Attachment, ...] = ()
    # The topic of the user's private chat it was sent in (None: outside any topic); in
    # a group, the forum topic.
    telegram_thread_id: int | None = None
    # In a group: `user_id` is the group's chat id (the conversation's owner) and this is
    # the member who asked, whose limits count it and who pays for its answer.
    author_id: int | None = None


@dataclass(frozen=True, slots=True)
class TurnHandoff:
    """The user's turn lease, taken by `owner` in the transaction that stored a question,
    with what that transaction read to answer first: the oldest pending question (this
    one, unless older ones wait) and its context."""

    owner: str
    question: Question
    context: Context


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What was stored: its slot, its cleaned text, how many messages the trim removed,
    and, for a question stored with `DialogueStore.ask` that got the lease, the hand-off."""

    seq: int
    content: str
    trimmed: int
    handoff: TurnHandoff | None = None


class DuplicateMessageError(BotError):
    """This Telegram message was stored before (a redelivered update); nothing was stored.

    `pending_seq` is the stored question's slot while it still waits for its answer
    (a crash between storing and answering): the redelivery resumes it.
    """

    def __init__(self, what: str, pending_seq: int | None = None) -> None:
        super().__init__(what)
        self.pending_seq = pending_seq


class AskedElsewhereError(BotError):
    """/retry in a group for a question asked in another chat: answering it there would
    show that chat's question in the group. Nothing was changed."""


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """A user's (or everyone's) usage: messages and tokens, today and in total."""

    messages_today: int
    messages_total: int
    tokens_today: int
    tokens_total: int


@dataclass(frozen=True, slots=True)
class Standing:
    """What every update needs to know of its user first: blocked, and the language they
    chose (None: follow their Telegram app). One read per update."""

    is_blocked: bool = False
    language: str | None = None


@dataclass(frozen=True, slots=True)
class UserProfile:
    """What `/user` shows an admin."""

    user_id: int
    created_at: datetime
    is_blocked: bool
    limits: UserLimits
    custom: dict[str, Any]
    usage: UsageTotals


@dataclass(frozen=True, slots=True)
class BotStats:
    """What `/stats` shows: the whole bot today."""

    users: int
    active_today: int
    blocked: int
    usage: UsageTotals


def sent_chars(content: str, attachments: Any = None) -> int:
    """Characters a message adds to the context the model is sent (`content_length`, which
    the context budget sums): its text, and the arguments and results of the tool calls
    stored on an answer (tools.rounds), which later turns send again before it."""
    return len(content) + sum(
        len(str(a.get("arguments") or "")) + len(str(a.get("result") or ""))
        for a in attachments or ()
        if isinstance(a, dict) and a.get("type") == "tool_call"
    )


def tool_list(value: object) -> tuple[str, ...] | None:
    """user_settings.allowed_tools as read (JSON: a list of names, or NULL: the default)."""
    if not isinstance(value, list):
        return None
    return tuple(str(entry) for entry in value)
