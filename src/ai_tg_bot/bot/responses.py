"""Keep aiogram's parsed-response models alive between calls.

aiogram validates every Bot API reply with `Response[method.__returning__]`; pydantic
caches such parametrized models only weakly, so each call could rebuild the model and
its schema (measured: about 40% of the bot's CPU per turn under load). Holding strong
references here keeps pydantic's cache warm for the methods the bot uses on every turn.
"""

from __future__ import annotations

from typing import Any

from aiogram import methods
from aiogram.methods import Response

HOT_METHODS: tuple[type[methods.TelegramMethod[Any]], ...] = (
    methods.GetUpdates,
    methods.SendMessage,
    methods.EditMessageText,
    methods.SendChatAction,
    methods.AnswerCallbackQuery,
    methods.SendDocument,
    methods.GetFile,
    methods.GetMe,
    methods.SetMyCommands,
    methods.SetWebhook,
    methods.DeleteWebhook,
    methods.DeleteMessage,
)
_PINNED: tuple[Any, ...] = tuple(Response[m.__returning__] for m in HOT_METHODS)  # type: ignore[name-defined]
