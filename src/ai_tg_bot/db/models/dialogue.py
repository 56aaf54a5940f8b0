"""The dialogue: users, their settings, their conversations, and their messages
(soft-deleted, never reordered)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ai_tg_bot.db.models.base import (
    AutoIncrementId,
    Base,
    TimestampMixin,
)
from ai_tg_bot.db.types import UTCDateTime, utc_now


class User(TimestampMixin, Base):
    """A Telegram user; `id` is the Telegram user id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The last per-user message sequence number handed out. Bumping it locks the row,
    # which serializes a user's writers and gives messages a stable order.
    message_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    is_blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The turn lease: which process answers this user's pending messages, until when.
    # Held between short transactions, never as an open one (see ADR 0008).
    turn_lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    turn_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A stop asked for the answer to this question (Stop button, /stop) through another
    # instance than the one writing it; that one reads it within a second (turns.stops).
    stop_requested_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Where a message outside any topic goes (/new sets NULL: the next message opens a
    # conversation; /chats switches). Not a foreign key: conversations already refer to
    # users, and a stale id simply opens a new conversation (storage.placement).
    current_conversation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Tokens bought with Telegram Stars and not spent yet: spent only past the user's
    # daily and monthly allowance (ADR 0015). Never below zero.
    token_credit: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))

    __table_args__ = (CheckConstraint("token_credit >= 0", name="token_credit_non_negative"),)

    settings: Mapped[UserSettings] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class UserSettings(TimestampMixin, Base):
    """Per-user settings and limits; NULL in any of them means the default from Settings."""

    __tablename__ = "user_settings"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    max_history_messages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    # User messages per UTC day; 0 means unlimited.
    daily_message_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # History characters sent to the LLM; 0 means unlimited.
    max_context_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The interface language the user chose (/language); NULL follows their Telegram app.
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Prompt + completion tokens per UTC day and per UTC month; 0 means unlimited.
    daily_token_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    monthly_token_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Images a UTC day (/image); 0 means unlimited.
    daily_image_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # /voice on: answers are also sent as voice messages. NULL: off.
    voice_replies: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # /voice auto: answers to voice messages come as voice too. NULL: off.
    voice_auto: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # /memory off: the user's facts are neither given to the model nor added. NULL: on.
    memory_enabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # The MCP tools the user may use ("server__tool", "server", or "*"); NULL: the
    # default (MCP_TOOLS_FOR), [] none. Set by admins (/tools).
    allowed_tools: Mapped[list[str] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"),
        nullable=True,
    )

    user: Mapped[User] = relationship(back_populates="settings")

    __table_args__ = (
        CheckConstraint(
            "max_history_messages BETWEEN 1 AND 1000", name="max_history_messages_range"
        ),
        CheckConstraint("daily_message_limit >= 0", name="daily_message_limit_non_negative"),
        CheckConstraint("max_context_chars >= 0", name="max_context_chars_non_negative"),
        CheckConstraint("daily_token_limit >= 0", name="daily_token_limit_non_negative"),
        CheckConstraint("monthly_token_limit >= 0", name="monthly_token_limit_non_negative"),
        CheckConstraint("daily_image_limit >= 0", name="daily_image_limit_non_negative"),
    )


class Conversation(Base):
    """One of a user's conversations: its own history, title and prompt (ADR 0014).

    A topic of the user's private chat is a conversation (`telegram_thread_id`); outside
    topics, the user's current one (`users.current_conversation_id`) takes the messages.
    """

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    # The first question, shortened (or a TITLE_MODEL title); NULL until there is one.
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The topic's message_thread_id in the user's private chat; NULL outside topics.
    telegram_thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # This conversation's /role; NULL: the user's default (user_settings.system_prompt).
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )
    last_active_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )
    # Set by the retention purge once nothing of it is left; /chats lists it no more.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # SUMMARY_MODEL: a rolling summary of what trimming took out of the window, sent
    # before the window; `summary_seq` is the newest message it covers (NULL: none yet).
    # /reset clears the summary and moves `summary_seq` past what it cleared.
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        # A topic is one conversation per user; also /chats' "recent first" per user.
        Index(
            "uq_conversations_user_thread",
            "user_id",
            "telegram_thread_id",
            unique=True,
            postgresql_where=text("telegram_thread_id IS NOT NULL"),
            sqlite_where=text("telegram_thread_id IS NOT NULL"),
        ),
        Index("ix_conversations_user_id_last_active_at", "user_id", "last_active_at"),
    )


class Message(Base):
    """One message of a user's dialogue. Trimmed or reset messages are soft-deleted."""

    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The unique (user_id, seq) constraint's index also serves the foreign key.
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    # Order within a user: timestamps can tie, a per-user sequence cannot. A question
    # takes seq n and reserves n + 1 for its answer, so an answer written later (after
    # more questions arrived) still sits right after its question.
    seq: Mapped[int] = mapped_column(BigInteger)
    # The conversation it belongs to: its context and trimming are that conversation's.
    conversation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    content_length: Mapped[int] = mapped_column(Integer)
    # For user messages: pending (waiting for an answer), answered or failed.
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Where the message came from in Telegram; a redelivered update is recognised by it.
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Why it left the history: trimmed (fell out of the window, still the user's and
    # searchable), or cleared by the user (reset, role, retry), or aged out (expired).
    deleted_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # text (default), photo or voice; photos keep what the image was in `attachments`.
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # None is SQL NULL, not JSON 'null': nothing to decode for the messages without any.
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"),
        nullable=True,
    )
    # Usage accounting, on assistant messages: who wrote it and what it cost.
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # On questions: how many times a turn took it up to answer (at most MAX_ASKS reach
    # the LLM; a question that keeps failing its answerer is failed, not asked forever).
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0", default=0)
    # In a group's conversation (`user_id` is the group's chat id): the member who asked
    # (on the question and its answer), who is counted and charged, and whose rows
    # /forget deletes. NULL in a user's own conversations.
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        CheckConstraint("role IN ('system', 'user', 'assistant')", name="role_valid"),
        CheckConstraint("content_length >= 0", name="content_length_non_negative"),
        CheckConstraint(
            "status IS NULL OR status IN ('pending', 'answered', 'failed')", name="status_valid"
        ),
        # One active message per slot; a retried answer reuses its slot after the old one
        # was soft-deleted. Also serves "newest N active" and the history reads.
        Index(
            "uq_messages_active_user_seq",
            "user_id",
            "seq",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        UniqueConstraint("telegram_chat_id", "telegram_message_id"),
        CheckConstraint(
            "deleted_reason IS NULL OR deleted_reason IN "
            "('trimmed', 'reset', 'role', 'retry', 'expired')",
            name="deleted_reason_valid",
        ),
        # Full-text search on PostgreSQL; the 'simple' configuration does not stem, so
        # Russian and English (and any other language) are matched word for word.
        Index(
            "ix_messages_content_fts",
            text("to_tsvector('simple', content)"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
        # Every message of a conversation: serves the foreign key (deleting a conversation).
        Index("ix_messages_conversation_id_seq", "conversation_id", "seq"),
        # One conversation's active history (context, trim) in order, whatever the number of
        # soft-deleted messages beside it: a user with 10,000 messages reads 50 entries
        # (the user in it too, or PostgreSQL ANDs it with the user's other indexes).
        Index(
            "ix_messages_active_conversation_seq",
            "user_id",
            "conversation_id",
            "seq",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        # Daily and per-minute quotas count a user's messages by time, deleted ones included.
        Index("ix_messages_user_id_created_at", "user_id", "created_at"),
        # A member's messages in groups' conversations (/forget): only those rows.
        Index(
            "ix_messages_author_id",
            "author_id",
            postgresql_where=text("author_id IS NOT NULL"),
            sqlite_where=text("author_id IS NOT NULL"),
        ),
        # Questions waiting for an answer (few at any time): the stranded-question sweep.
        Index(
            "ix_messages_pending",
            "user_id",
            postgresql_where=text("status = 'pending' AND deleted_at IS NULL"),
            sqlite_where=text("status = 'pending' AND deleted_at IS NULL"),
        ),
    )
