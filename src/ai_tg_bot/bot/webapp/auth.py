"""The Mini App's sign-in and the frame every API endpoint runs in.

A call carries `Authorization: tma <initData>`: the query string Telegram hands the page,
signed with the bot's token (HMAC-SHA256 under HMAC-SHA256("WebAppData", token): aiogram's
`safe_parse_webapp_init_data`). The user is the one initData names, and no one else:
no user id is read from anywhere else in a request. As with an update (bot.middlewares
access), users outside ALLOWED_USER_IDS and blocked users are refused (admins never), and
the call speaks the user's language: their /language choice, else their Telegram app's,
else DEFAULT_LANGUAGE. initData is a credential: it is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiogram import Bot
from aiogram.utils.web_app import safe_parse_webapp_init_data
from aiohttp import web

from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.config import Settings
from ai_tg_bot.db import Database
from ai_tg_bot.i18n import _, pick_language, use_language
from ai_tg_bot.storage import STORAGE_ERRORS, UsageStore

log = logging.getLogger(__name__)
SCHEME = "tma"
# How far in the future a sign-in may be dated (the clocks of Telegram and this host).
CLOCK_SKEW_SECONDS = 60
Json = dict[str, Any]


class Host(Protocol):
    """What the Mini App needs of the running application (bot.app.Application)."""

    settings: Settings
    database: Database
    bot: Bot
    deps: Deps


@dataclass(frozen=True, slots=True)
class WebAppContext:
    """The application's parts the endpoints use, kept in the web app (`CONTEXT`)."""

    settings: Settings
    bot: Bot
    deps: Deps
    usage: UsageStore

    @classmethod
    def of(cls, host: Host) -> WebAppContext:
        """The context of a running application."""
        return cls(host.settings, host.bot, host.deps, UsageStore(host.database, host.settings))


CONTEXT: web.AppKey[WebAppContext] = web.AppKey("webapp_context", WebAppContext)


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in user: who initData says they are, and the language in force."""

    user_id: int
    first_name: str
    language: str
    chosen_language: str | None
    admin: bool


@dataclass(frozen=True, slots=True)
class Call:
    """One API request of a signed-in user."""

    request: web.Request
    visitor: Visitor
    context: WebAppContext

    @property
    def deps(self) -> Deps:
        """The application's components."""
        return self.context.deps

    @property
    def settings(self) -> Settings:
        """The application's settings."""
        return self.context.settings

    @property
    def user_id(self) -> int:
        """The signed-in user's id (from initData only)."""
        return self.visitor.user_id


class ApiError(Exception):
    """An answer other than 200: a status, a code, and (for what a user can fix) a message
    in their language."""

    def __init__(self, status: int, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        """The JSON answer."""
        body: Json = {"error": self.code}
        if self.message is not None:
            body["message"] = self.message
        return web.json_response(body, status=self.status, headers=NO_STORE)


def unauthorized() -> ApiError:
    """No valid sign-in."""
    return ApiError(401, "unauthorized")


def forbidden() -> ApiError:
    """Signed in, but not allowed to do this."""
    return ApiError(403, "forbidden")


def not_found() -> ApiError:
    """Nothing of the user's has that id."""
    return ApiError(404, "not_found")


def bad_request(code: str, message: str) -> ApiError:
    """Input the user can correct; nothing changed."""
    return ApiError(400, code, message)


NO_STORE = {"Cache-Control": "no-store"}


def verified_user(token: str, header: str, max_age: int, now: float) -> Any:
    """The WebAppUser of a valid `tma` header; ApiError 401 otherwise
    (another scheme, a forged or malformed initData, older than `max_age` seconds, or
    dated in the future)."""
    scheme, _space, init_data = header.strip().partition(" ")
    init_data = init_data.strip()
    if scheme.lower() != SCHEME or not init_data:
        raise unauthorized()
    try:
        parsed = safe_parse_webapp_init_data(token, init_data)
    except ValueError:  # a bad signature, a query string or JSON that does not parse
        raise unauthorized() from None
    user = parsed.user
    signed_at = parsed.auth_date.timestamp()
    if user is None or user.id <= 0 or user.id >= 2**63:
        raise unauthorized()
    if now - signed_at > max_age or signed_at - now > CLOCK_SKEW_SECONDS:
        raise unauthorized()
    return user


async def sign_in(request: web.Request, context: WebAppContext) -> Visitor:
    """The user a request is signed by, allowed and not blocked, with their language."""
    settings = context.settings
    token = settings.telegram_bot_token
    if token is None:
        raise unauthorized()
    user = verified_user(
        token.get_secret_value(),
        request.headers.get("Authorization", ""),
        settings.webapp_max_age_seconds,
        time.time(),
    )
    if not settings.is_allowed(user.id):
        log.info("mini app: refused user_id=%s: not in ALLOWED_USER_IDS", user.id)
        raise forbidden()
    admin = settings.is_admin(user.id)
    standing = await context.deps.accounts.standing(user.id)
    if standing.is_blocked and not admin:
        log.info("mini app: refused user_id=%s: blocked", user.id)
        raise forbidden()
    return Visitor(
        user_id=user.id,
        first_name=user.first_name,
        language=pick_language(standing.language, user.language_code, settings.default_language),
        chosen_language=standing.language,
        admin=admin,
    )


Endpoint = Callable[[Call], Awaitable[Json | web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(handler: Endpoint, *, admin: bool = False) -> Route:
    """An aiohttp handler that signs the user in (admins only with `admin`), runs
    `handler` in their language and answers its JSON (or its own response); ApiError
    becomes its answer, a database outage 503."""

    async def route(request: web.Request) -> web.StreamResponse:
        context = request.config_dict[CONTEXT]
        try:
            visitor = await sign_in(request, context)
            if admin and not visitor.admin:
                raise forbidden()
            with use_language(visitor.language):
                answer = await handler(Call(request, visitor, context))
        except ApiError as error:
            return error.response()
        except STORAGE_ERRORS as exc:
            log.warning(
                "mini app: %s failed: database unavailable (%s)", request.path, type(exc).__name__
            )
            return web.json_response({"error": "unavailable"}, status=503, headers=NO_STORE)
        if isinstance(answer, web.StreamResponse):
            return answer
        return web.json_response(answer, headers=NO_STORE)

    return route


async def json_body(request: web.Request) -> Json:
    """The request's JSON object; ApiError 400 for anything else."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise bad_request("bad_json", _("The request is not a JSON object."))
    return body


def path_id(request: web.Request, name: str = "id") -> int:
    """A positive id from the path (the route only matches digits); 404 past a BIGINT."""
    value = int(request.match_info[name])
    if not 0 < value < 2**63:
        raise not_found()
    return value


def iso(moment: datetime | None) -> str | None:
    """A UTC time in ISO 8601 with a Z."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
