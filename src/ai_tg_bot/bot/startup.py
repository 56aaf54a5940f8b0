"""Start-up checks: Telegram takes the token (fatal, one line), the LLM server answers
(a warning naming the likely misconfiguration, never fatal)."""

from __future__ import annotations

import asyncio
import importlib
import logging
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramNotFound,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from ai_tg_bot.bot.middlewares.retry import best_effort
from ai_tg_bot.config import Settings
from ai_tg_bot.errors import EXIT_CONFIG_ERROR, EXIT_UNEXPECTED, StartupError
from ai_tg_bot.llm import LLMClient
from ai_tg_bot.observability import redact

log = logging.getLogger(__name__)
# getMe tries before "Telegram is unreachable": about 13 s in all at most, not minutes.
TELEGRAM_ATTEMPTS = 3
TELEGRAM_REQUEST_TIMEOUT = 5
LLM_PROBE_SECONDS = 5.0


class TelegramStartupError(StartupError):
    """Telegram refused the token (exit 2) or could not be reached (exit 1)."""


async def check_telegram(bot: Bot, settings: Settings) -> None:
    """getMe, a few times: raise TelegramStartupError if the token is rejected (exit 2)
    or Telegram stays unreachable (exit 1)."""
    server = settings.telegram_api_url
    host = urlsplit(server).netloc if server else "api.telegram.org"
    where = " (or TELEGRAM_API_URL)" if server else ""
    reason = ""
    for attempt in range(1, TELEGRAM_ATTEMPTS + 1):
        try:
            with best_effort():  # our own bounded retries, not the send path's
                await bot.get_me(request_timeout=TELEGRAM_REQUEST_TIMEOUT)
            return
        except TelegramUnauthorizedError:
            raise TelegramStartupError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized): copy the token "
                "from @BotFather again (/mybots, API Token)",
                EXIT_CONFIG_ERROR,
            ) from None
        except TelegramNotFound:
            raise TelegramStartupError(
                f"Telegram at {host} answered 404 Not Found for TELEGRAM_BOT_TOKEN: the token "
                f"is malformed{where}; it looks like 123456789:AA...",
                EXIT_CONFIG_ERROR,
            ) from None
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
            reason = type(exc).__name__
            log.debug("getMe attempt %d failed: %s", attempt, redact(str(exc)))
        if attempt < TELEGRAM_ATTEMPTS:
            await asyncio.sleep(attempt)
    raise TelegramStartupError(
        f"could not reach Telegram at {host} after {TELEGRAM_ATTEMPTS} attempts ({reason}): "
        f"check the network, a proxy or firewall{where}",
        EXIT_UNEXPECTED,
    )


async def check_llm(llm: LLMClient, settings: Settings) -> str | None:
    """Ask the LLM server for its models, briefly; log a warning naming the likely cause
    when that fails (a wrong URL, a wrong key, a model it does not have, models of
    LLM_MODELS it does not serve). Never fatal: the server may come up later. Returns the
    warning, or None."""
    problem = await _llm_problem(llm, settings.llm_models)
    if problem is not None:
        log.warning("LLM check: %s", problem)
    return problem


async def _llm_problem(llm: LLMClient, offered: list[str]) -> str | None:
    # Imported in a thread (about a second of CPU) so answers already streaming go on.
    openai = await asyncio.to_thread(importlib.import_module, "openai")
    host = llm.host
    try:
        async with asyncio.timeout(LLM_PROBE_SECONDS):
            names = await llm.model_names()
    except openai.AuthenticationError:
        return f"{host} rejected OPENAI_API_KEY (401 Unauthorized): check the key"
    except openai.PermissionDeniedError:
        return f"{host} refused OPENAI_API_KEY (403 Forbidden): check the key's access"
    except openai.NotFoundError:
        return f"{host} answered 404 for /models: does OPENAI_BASE_URL end with /v1?"
    except (TimeoutError, openai.APITimeoutError):
        return f"{host} did not answer within {LLM_PROBE_SECONDS:.0f} s: is OPENAI_BASE_URL right?"
    except openai.APIConnectionError:
        return f"{host} cannot be reached: is the server up, and OPENAI_BASE_URL right?"
    except openai.APIStatusError as exc:
        kind = exc.type or exc.code or type(exc).__name__
        return f"{host} answered {exc.status_code} ({kind}) for /models"
    except (openai.APIError, ValueError, TypeError):
        return None  # an answer we cannot read: the first turn will tell
    if not names:
        return None  # some servers list nothing: nothing to check against
    llm.served_models = frozenset(names)
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    if llm.model not in names:
        return f"LLM_MODEL {llm.model} is not among the models {host} lists: {shown}"
    missing = [name for name in offered if name not in names]
    if missing:
        return (
            f"LLM_MODELS names models {host} does not list: {', '.join(missing)} "
            f"(/model will not offer them; it lists: {shown})"
        )
    return None
