"""/tools: the MCP tools a user may use, and an admin's `/tools <user_id> <...>`.

`/tools` alone shows the caller the tools they may use now (an admin also sees each
server's connection state), privately. An admin sets a user's allow list with
`/tools <user_id> <all|none|default|server__tool,server,...>` (stored in
`user_settings.allowed_tools` through AccountsStore; "default" follows MCP_TOOLS_FOR).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.handlers.admin import parse_user_id
from ai_tg_bot.bot.private import say_privately, tell_operator
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _, ngettext, number
from ai_tg_bot.storage import AccountsStore
from ai_tg_bot.tools import SEPARATOR, shown_name

ENTRY = re.compile(r"\*|[A-Za-z0-9_-]{1,64}")
KEYWORDS: dict[str, list[str] | None] = {"all": ["*"], "none": [], "default": None}
DESCRIPTION_CHARS = 120  # of each tool's description in /tools
LISTING_MAX_CHARS = 4000  # the whole listing: one Telegram message (4,096 at most)


def usage() -> str:
    """How an admin calls /tools."""
    return _("Usage: /tools <user_id> <all|none|default|server__tool,server,...>")


def parse_entries(raw: str, servers: dict[str, str]) -> list[str] | str | None:
    """An allow list from "all", "none", "default" or "server__tool,server,..."; an
    error text (str) for what is not one."""
    if raw.strip().lower() in KEYWORDS:
        keyword = KEYWORDS[raw.strip().lower()]
        return None if keyword is None else list(keyword)
    entries: list[str] = []
    for entry in (part for part in re.split(r"[,\s]+", raw.strip()) if part):
        if not ENTRY.fullmatch(entry):
            return usage()
        server = entry.partition(SEPARATOR)[0]
        if entry != "*" and server not in servers:
            return _("There is no tool server named {name}.").format(name=server)
        if entry not in entries:
            entries.append(entry)
    return entries if entries else usage()


def brief(description: str) -> str:
    """A tool's description in /tools: its first line, at most DESCRIPTION_CHARS."""
    line = description.strip().split("\n", 1)[0].strip()
    return line if len(line) <= DESCRIPTION_CHARS else line[: DESCRIPTION_CHARS - 1] + "…"


def described(entries: list[str] | None) -> str:
    """An allow list as shown to an admin."""
    if entries is None:
        return _("the default")
    if not entries:
        return _("no tools")
    return ", ".join(_("all tools") if e == "*" else shown_name(e) for e in entries)


def state_line(server: ServerState) -> str:
    """One server's state for an admin."""
    if server.state == "connected":
        state = ngettext(
            "connected, {count} tool", "connected, {count} tools", server.tools
        ).format(count=number(server.tools))
    elif server.state == "connecting":
        state = _("connecting")
    else:
        state = _("down (retrying)")
    return f"• {server.name}: {state}"


async def tools(message: Message, command: CommandObject, bot: Bot, deps: Deps) -> None:
    """`/tools` (what the caller may use) and an admin's `/tools <user_id> <...>`."""
    caller = message.from_user.id if message.from_user else message.chat.id
    is_admin = caller in deps.settings.admin_user_ids
    if command.args:
        if not is_admin:
            await message.answer(texts.ADMIN_ONLY)
            return
        await grant(message, command.args, deps.accounts, deps.settings, bot)
        return
    if deps.toolbox is None:
        await message.answer(_("No tools are set up on this bot."))
        return
    offered = deps.toolbox.offered(caller, await deps.accounts.allowed_tools(caller))
    if offered:
        lines = [_("🔧 Tools you may use:")]
        lines += [f"• {shown_name(spec.name)}: {brief(spec.description)}" for spec in offered]
    else:
        lines = [_("🔧 You have no tools available right now.")]
    if is_admin:
        lines += ["", _("Tool servers:"), *(state_line(s) for s in deps.toolbox.states())]
    listing = "\n".join(lines)
    if len(listing) > LISTING_MAX_CHARS:  # many tools: within one Telegram message
        listing = listing[: LISTING_MAX_CHARS - 1].rsplit("\n", 1)[0] + "\n…"
    await say_privately(message, caller, bot, listing)


async def grant(
    message: Message, args: str, accounts: AccountsStore, settings: Settings, bot: Bot
) -> None:
    """`/tools <user_id> <all|none|default|list>`: set a user's allow list."""
    user_raw, _sep, rest = args.strip().partition(" ")
    user_id = parse_user_id(user_raw)
    if user_id is None or not rest.strip():
        await tell_operator(message, bot, usage())
        return
    entries = parse_entries(rest, settings.mcp_servers)
    if isinstance(entries, str):
        await tell_operator(message, bot, entries)
        return
    await accounts.set_allowed_tools(user_id, entries)
    await tell_operator(
        message,
        bot,
        _("Tools of user {user_id}: {tools}.").format(user_id=user_id, tools=described(entries)),
    )


def make_router() -> Router:
    """A fresh Router for /tools."""
    router = Router(name=__name__)
    router.message.register(tools, Command("tools"))
    return router


if TYPE_CHECKING:  # mcp (about 0.8 s to import) only with MCP_SERVERS
    from ai_tg_bot.tools import ServerState
