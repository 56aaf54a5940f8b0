"""What an LLM call's failure is: its kind (what the user can do about it), the line they
are shown, and what the operator's log may say (status and error class, never the text)."""

from __future__ import annotations

from enum import StrEnum

from ai_tg_bot.errors import BotError
from ai_tg_bot.i18n import N_, _


class LLMErrorKind(StrEnum):
    """What went wrong, in terms a user can act on."""

    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    SERVER_ERROR = "server_error"
    REJECTED = "rejected"
    EMPTY = "empty"
    ATTACHMENT = "attachment"
    # Taken up MAX_ASKS times without an answer stored (its answerers failed or died).
    EXHAUSTED = "exhausted"


# English msgids, translated where they are shown (LLMError.reason).
_USER_MESSAGES = {
    LLMErrorKind.RATE_LIMITED: N_("The language model is busy (rate limit reached)."),
    LLMErrorKind.TIMEOUT: N_("The language model took too long to answer."),
    LLMErrorKind.UNAVAILABLE: N_("The language model could not be reached."),
    LLMErrorKind.SERVER_ERROR: N_("The language model failed with a server error."),
    LLMErrorKind.REJECTED: N_("The language model refused the request."),
    LLMErrorKind.EMPTY: N_("The language model returned an empty answer."),
    LLMErrorKind.ATTACHMENT: N_("Your photo could not be downloaded from Telegram."),
    LLMErrorKind.EXHAUSTED: N_("This question could not be answered after several tries."),
}


class LLMError(BotError):
    """An LLM call that failed; `user_message` is safe to show to the user."""

    def __init__(
        self,
        kind: LLMErrorKind,
        detail: str = "",
        *,
        status: int | None = None,
        error_type: str = "",
    ) -> None:
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.detail = detail
        # For the operator's log: the HTTP status and the client's error class (never
        # the server's text, which may quote the request).
        self.status = status
        self.error_type = error_type

    @property
    def reason(self) -> str:
        """What happened, one sentence in the user's language."""
        return _(_USER_MESSAGES[self.kind])

    @property
    def user_message(self) -> str:
        """One short line: what happened and what the user can do."""
        return _("⚠️ {reason} Your message is saved: send /retry to try again.").format(
            reason=self.reason
        )

    @property
    def cut_off_message(self) -> str:
        """The line after a partly shown answer: it is incomplete, and why."""
        reason = self.reason
        # The reason continues the sentence, so it starts in lower case.
        return _("⚠️ The answer above was cut off: {reason} Send /retry for a complete one.").format(
            reason=reason[:1].lower() + reason[1:]
        )
