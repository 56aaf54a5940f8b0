"""The Mini App's settings and usage for the signed-in user: the twins of /language,
/model, /role, /voice, /memory and /limits, through the same store methods and checks.
A change is checked whole before anything is written: bad input changes nothing."""

from __future__ import annotations

from typing import Any

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.handlers.account import offered_models
from ai_tg_bot.bot.webapp.auth import Call, Json, bad_request, iso, json_body
from ai_tg_bot.i18n import LANGUAGE_NAMES, SHIPPED, _, normalize
from ai_tg_bot.storage import PaymentRecord, without_nul

VOICE_MODES = ("off", "on", "auto")
SETTINGS_FIELDS = frozenset({"language", "model", "role", "voice", "memory"})
USAGE_DAYS = 30
LISTED_PAYMENTS = 50


async def _current(call: Call, language: str | None) -> Json:
    """The settings as they are now (one short read each), with the user's chosen
    `language` (the sign-in read it, or this call just set it)."""
    deps, user_id = call.deps, call.user_id
    model = (await deps.accounts.limits(user_id)).model
    role = await deps.storage.conversation_role(user_id)
    voice = await deps.outputs.voice_mode(user_id)
    facts, memory = await deps.memory.facts(user_id)
    return {
        "language": language,
        "languages": [{"code": code, "name": LANGUAGE_NAMES[code]} for code in SHIPPED],
        "model": model,
        "models": offered_models(call.deps, model),
        "role": role,
        "role_max_chars": call.settings.system_prompt_max_chars,
        "voice": voice,
        "voice_available": call.settings.tts_model is not None,
        "memory": memory,
        "facts": [
            {"id": fact.id, "text": fact.text, "created_at": iso(fact.created_at)} for fact in facts
        ],
    }


async def get_settings(call: Call) -> Json:
    """The user's language, model, current conversation's role, voice and memory."""
    return await _current(call, call.visitor.chosen_language)


def _language(value: Any) -> str | None:
    if value is None or value == "auto":  # follow the Telegram app
        return None
    code = normalize(value) if isinstance(value, str) else None
    if code is None:
        shown = str(value)[:20]
        raise bad_request("unknown_language", _("I don't speak “{code}” yet.").format(code=shown))
    return code


def _role(value: Any, limit: int) -> str | None:
    if value is not None and not isinstance(value, str):
        raise bad_request("bad_role", _("The role must be text."))
    role = without_nul(value or "").strip()
    if len(role) > limit:
        raise bad_request("role_too_long", texts.role_too_long(len(role), limit))
    return role or None  # empty: the default role


async def patch_settings(call: Call) -> Json:
    """Change any of language, model, role, voice and memory; the settings after."""
    body = await json_body(call.request)
    unknown = sorted(set(body) - SETTINGS_FIELDS)
    if unknown:
        fields = ", ".join(sorted(SETTINGS_FIELDS))
        raise bad_request(
            "unknown_field",
            _("Unknown setting “{name}”. Settings: {fields}.").format(
                name=unknown[0][:40], fields=fields
            ),
        )
    deps, user_id, settings = call.deps, call.user_id, call.settings
    changes: dict[str, Any] = {}
    if "language" in body:
        changes["language"] = _language(body["language"])
    if "model" in body:
        current = (await deps.accounts.limits(user_id)).model
        if body["model"] not in offered_models(call.deps, current):
            shown = str(body["model"])[:100]
            raise bad_request("unknown_model", _("Unknown model “{model}”.").format(model=shown))
        changes["model"] = body["model"]
    if "role" in body:
        changes["role"] = _role(body["role"], settings.system_prompt_max_chars)
    if "voice" in body:
        if settings.tts_model is None:
            raise bad_request("voice_unavailable", _("🔇 Spoken answers are not available here."))
        if body["voice"] not in VOICE_MODES:
            raise bad_request("bad_voice", _("Spoken answers are off, on or auto."))
        changes["voice"] = body["voice"]
    if "memory" in body:
        if not isinstance(body["memory"], bool):
            raise bad_request("bad_memory", _("Memory is on (true) or off (false)."))
        changes["memory"] = body["memory"]
    # Everything checked: now written, each through the command's own store method.
    if "language" in changes:
        await deps.accounts.set_language(user_id, changes["language"])
    if "model" in changes:
        await deps.accounts.set_model(user_id, changes["model"])
    if "role" in changes:
        # A new role clears the conversation (as /role does); the same role again is
        # no change, so a page that saves every field does not wipe it.
        wanted = changes["role"] or settings.default_system_prompt
        if wanted != await deps.storage.conversation_role(user_id):
            await deps.storage.set_conversation_role(user_id, changes["role"])
    if "voice" in changes:
        await deps.accounts.set_voice_mode(user_id, changes["voice"])
    if "memory" in changes:
        await deps.accounts.set_memory(user_id, changes["memory"])
    return await _current(call, changes.get("language", call.visitor.chosen_language))


def payment_json(payment: PaymentRecord) -> Json:
    """A payment as the API gives it."""
    return {
        "charge_id": payment.charge_id,
        "stars": payment.stars,
        "tokens": payment.tokens,
        "created_at": iso(payment.created_at),
        "refunded": payment.refunded_at is not None,
        "refunded_at": iso(payment.refunded_at),
    }


async def usage(call: Call) -> Json:
    """Tokens per UTC day for 30 days, the budgets and what is used of them, the bought
    credit and the user's payments (what /limits shows, and more)."""
    deps, user_id = call.deps, call.user_id
    days = await call.context.usage.daily_tokens(user_id, USAGE_DAYS)
    limits, spent = await deps.accounts.budget(user_id)
    totals = await deps.accounts.usage(user_id)
    payments = await deps.payments.payments_of(user_id, LISTED_PAYMENTS)
    return {
        "days": [{"date": day.day.isoformat(), "tokens": day.tokens} for day in days],
        "daily_budget": limits.daily_token_limit,
        "monthly_budget": limits.monthly_token_limit,
        "today_tokens": spent.today,
        "month_tokens": spent.month,
        "credit": spent.credit,
        "messages_today": totals.messages_today,
        "daily_messages": limits.daily_message_limit,
        "payments": [payment_json(payment) for payment in payments],
    }
