"""The bot's exceptions: one tree under one base.

Every exception the bot raises on purpose derives from `BotError`; each is defined in the
wing that raises it and caught where it can be told to someone (a user, the operator).
An exception outside this tree is a bug, logged with its traceback.

    BotError
    ├── StartupError                  the bot cannot start: one line, and the exit code
    │   ├── SettingsError             config: settings missing or invalid, all named (2)
    │   ├── TelegramStartupError      bot: Telegram refused the token or is unreachable
    │   ├── WebhookRegisteredError    bot: polling while a webhook is registered (2)
    │   └── PollingConflictError      bot: another process polls with this token (1)
    ├── QuotaExceededError            limits: a user's limit reached, nothing spent
    ├── LLMError                      llm: the model server failed; `kind` says how
    ├── MediaError                    media: a photo or voice message cannot be used
    │   └── FileTooLargeError         media: past what the Bot API lets a bot download
    ├── DocumentError                 media: a document cannot be read; `problem` says why
    ├── EmptyTextError                storage: no text left once cleaned (nothing stored)
    ├── DuplicateMessageError         storage: an update stored before (answered once)
    ├── AskedElsewhereError           storage: another instance took the question
    ├── ExportBusyError               storage: the user's export is already running
    └── NotYetError                   bot: a payment waits for the database (retried)
"""

from __future__ import annotations

# The exit codes of `ai-tg-bot`, defined once: a configuration problem (fix a setting and
# start again), and a runtime failure (Telegram unreachable, another poller, a crash).
EXIT_CONFIG_ERROR = 2
EXIT_UNEXPECTED = 1


class BotError(Exception):
    """The base of every exception the bot raises on purpose."""


class StartupError(BotError):
    """The bot cannot start: `str()` is the one line for the operator, `code` the exit
    code (2 a configuration problem, 1 a runtime failure)."""

    def __init__(self, message: str, code: int = EXIT_CONFIG_ERROR) -> None:
        super().__init__(message)
        self.code = code
