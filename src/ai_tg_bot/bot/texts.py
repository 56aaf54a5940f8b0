"""What the bot says: fixed replies and replies with values, in one place, in the
user's language (`ai_tg_bot.i18n`); the menus, /help and the profile are in `menus`.

The fixed replies read like constants (`texts.HELP`), but each is translated when it is
read, in the language of the update being handled: `__getattr__` below looks the English
msgid up in `_FIXED` and passes it through the catalog. Replies with values are
functions.
"""

from __future__ import annotations

from collections.abc import Callable

from ai_tg_bot.bot.menus import greeting, help_text
from ai_tg_bot.i18n import N_, _, ngettext, number
from ai_tg_bot.limits import UserLimits
from ai_tg_bot.turns import VoiceProblem

_FIXED: dict[str, str] = {
    "UNSUPPORTED": N_(
        "I understand text, photos, documents, voice messages and commands (see /help). "
        "Stickers, videos and other media aren't supported yet."
    ),
    "OVER_LIMIT_IN_GROUP": N_(
        "⛔ Not answered: one of your limits applies. /limits in our private chat says which."
    ),
    "UNKNOWN_COMMAND": N_("I don't know that command. /help lists the ones I understand."),
    "EMPTY_MESSAGE": N_("That message has no text I can answer. Please send some text."),
    "RETRY_ELSEWHERE": N_(
        "Your last message was in another chat, so I won't answer it again here. "
        "Send /retry in that chat."
    ),
    "ANSWER_AT_LIMIT": N_(
        "✂️ The answer above reached the length limit and stops there. "
        "Ask me to continue if you need the rest."
    ),
    "NOTHING_TO_RETRY": N_("There is nothing to retry yet: send me a message first."),
    "GROUP_ADMINS_ONLY": N_("Only this group's administrators can do that."),
    "STOPPED": N_("⏹ Stopped. The answer above is kept as it is; /retry writes a complete one."),
    "STOPPED_EARLY": N_("⏹ Stopped before the answer began. /retry asks again."),
    "NOTHING_TO_STOP": N_("There is no answer being written to stop."),
    "STORAGE_DOWN": N_(
        "⚠️ My storage is temporarily unavailable, so I couldn't handle that. "
        "Please try again in a minute."
    ),
    "INTERNAL_ERROR": N_("⚠️ Something went wrong on my side. Please try again."),
    "BLOCKED": N_("⛔ You have been blocked from using this bot."),
    "ADMIN_ONLY": N_("⛔ This command is for the bot's administrators."),
    "EDITED": N_(
        "✏️ I answer new messages only; editing one doesn't change our dialogue. "
        "Send the corrected text as a new message."
    ),
    "TRANSCRIPTION_FAILED": N_(
        "⚠️ I couldn't transcribe your voice message. It is saved: send /retry to try "
        "again, or type your message."
    ),
    "NO_SPEECH": N_("🎤 I couldn't hear any words in that voice message."),
    # /export and /forget
    "EXPORT_RUNNING": N_(
        "⏳ Your previous export is still being made; it will arrive in a moment."
    ),
    "NOTHING_TO_EXPORT": N_("There is nothing to export yet: your history is empty."),
    "FORGET_CONFIRM": N_(
        "⚠️ This deletes what you told me, for good: every message (also those out of the "
        "context window), what I remember about you, your role, your model and your "
        "language choice. It cannot be "
        "undone. Only what holds none of your words stays: the limits the administrator "
        "set, and how many messages you sent today (so your daily limit still counts "
        "them). Use /export first if you want a copy.\n\nDelete everything?"
    ),
    "FORGET_CANCELLED": N_("Cancelled. Nothing was deleted."),
    "FORGET_NOT_YOURS": N_("Only the person who asked can answer this."),
    "FORGET_EXPIRED": N_("This confirmation has expired. Send /forget again if you still want it."),
    # Answers with a user's own data, asked for in a group (see bot.private)
    "SENT_PRIVATELY": N_("📬 I've sent it to you in a private chat."),
    # Inline buttons
    "BUTTON_NOT_YOURS": N_("Only the person who asked can use these buttons."),
    "BUTTON_EXPIRED": N_("This button has expired."),
    "SEARCH_EXPIRED": N_("This search has expired; run /search again."),
}
_COMPOSED: dict[str, Callable[[], str]] = {"HELP": help_text, "GREETING": greeting}


def __getattr__(name: str) -> str:
    """`texts.NAME`: the fixed reply in the current language."""
    if name in _FIXED:
        return _(_FIXED[name])
    if name in _COMPOSED:
        return _COMPOSED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def role_too_long(length: int, limit: int) -> str:
    """A /role text over SYSTEM_PROMPT_MAX_CHARS."""
    return _(
        "That role is too long: {length} characters, the limit is {limit}. "
        "Your current role is unchanged."
    ).format(length=number(length), limit=number(limit))


def not_allowed(user_id: int) -> str:
    """The line for users outside ALLOWED_USER_IDS (with the id the operator needs)."""
    return _(
        "⛔ This bot is private. Ask its operator for access "
        "and give them your Telegram id: {user_id}."
    ).format(user_id=user_id)


def no_vision(model: str, vision_models: list[str]) -> str:
    """A photo for a model that cannot see images: which of the user's models can."""
    if vision_models:
        hint = _("Switch to one that can with /model: {models}.").format(
            models=", ".join(vision_models)
        )
    else:
        hint = _("None of the models here can, so please describe the picture in words.")
    return _("🖼 Your model {model} can't see images, so I didn't send your photo.").format(
        model=model
    ) + (" " + hint)


def _megabytes(limit_bytes: int) -> str:
    return _("{size} MB").format(size=number(float(f"{limit_bytes / (1024 * 1024):.3g}")))


def image_too_large(limit_bytes: int) -> str:
    """A photo over MAX_IMAGE_BYTES."""
    return _(
        "🖼 That image is too large for me (the limit is {size}). Please send a smaller one."
    ).format(size=_megabytes(limit_bytes))


def voice_too_large(limit_bytes: int) -> str:
    """A voice message over MAX_VOICE_BYTES."""
    return _(
        "🎤 That voice message is too long for me (the limit is {size}). Please send a shorter one."
    ).format(size=_megabytes(limit_bytes))


def transcript(text: str) -> str:
    """What the user said in a voice message, shown before the answer."""
    return f"🎤 {text}"


def forgotten(messages: int) -> str:
    """After /forget: what went."""
    return ngettext(
        "🗑 Done: I deleted your messages ({count} message), what I remembered about you, "
        "your role, your model and your language choice. If you write again, we start "
        "from scratch.",
        "🗑 Done: I deleted your messages ({count} messages), what I remembered about you, "
        "your role, your model and your language choice. If you write again, we start "
        "from scratch.",
        messages,
    ).format(count=number(messages))


def export_too_large(what: str, size: int, limit: int) -> str:
    """An export file over Telegram's upload limit for bots."""
    return _(
        "Your history as {what} is {size} MB, more than the {limit} MB Telegram lets me "
        "send. Ask the bot's operator for a copy."
    ).format(what=what, size=number(round(size / 2**20)), limit=number(round(limit / 2**20)))


def open_private_chat(link: str) -> str:
    """Asked in a group, but the bot may not write to the user privately yet."""
    return _(
        "🔒 That answer is private, and I can't write to you privately yet. "
        "Open {link}, press Start, then send the command again."
    ).format(link=link)


def _messages(count: int) -> str:
    return ngettext("{count} message", "{count} messages", count).format(count=number(count))


def _unlimited_or(value: int, shown: str) -> str:
    """`0` means unlimited for daily and context limits."""
    return _("unlimited") if value == 0 else shown


def used_today(messages_today: int, daily_limit: int) -> str:
    """Today's messages, against the daily limit when there is one (/limits, /status)."""
    if not daily_limit:
        return number(messages_today)
    return _("{used} of {limit}").format(used=number(messages_today), limit=number(daily_limit))


def render_limits(limits: UserLimits, messages_today: int) -> str:
    """The /limits text (also the core of an admin's /user)."""
    daily = limits.daily_message_limit
    today = used_today(messages_today, daily)
    characters = limits.max_context_chars
    per_minute = limits.rate_limit_per_minute
    return "\n".join(
        [
            _("History kept: {messages}").format(messages=_messages(limits.max_history_messages)),
            _("Messages per day: {allowed} (today: {today})").format(
                allowed=_unlimited_or(daily, _messages(daily)), today=today
            ),
            _("Context sent to the model: {allowed}").format(
                allowed=_unlimited_or(
                    characters,
                    ngettext("{count} character", "{count} characters", characters).format(
                        count=number(characters)
                    ),
                )
            ),
            _("Messages per minute: {allowed}").format(
                allowed=_unlimited_or(per_minute, _messages(per_minute))
            ),
            _("Images per day: {allowed}").format(
                allowed=_unlimited_or(
                    limits.daily_image_limit,
                    ngettext("{count} image", "{count} images", limits.daily_image_limit).format(
                        count=number(limits.daily_image_limit)
                    ),
                )
            ),
            _("Model: {model}").format(model=limits.model),
        ]
    )


def voice_notice(problem: VoiceProblem) -> str:
    """What the user is told when a voice question got no answer."""
    if problem.kind == "too_large":
        return voice_too_large(problem.limit_bytes)
    return _(_FIXED["NO_SPEECH" if problem.kind == "no_speech" else "TRANSCRIPTION_FAILED"])
