"""The Telegram Mini App (issue 32; docs/webapp.md is its contract): the page at `/app`
(pages), its files under `/app/static/`, and its JSON API under `/app/api/`: sign-in and
the endpoints' frame (auth), the user's conversations, search and export (api), settings
and usage (account), the administrators' endpoints (admin), messages as safe HTML
(rendering), and the page's texts (texts). Served by the bot's own web server in both
modes (bot.webhook.build_web_app calls `add_webapp`)."""

from __future__ import annotations

from aiohttp import web

from ai_tg_bot.bot.webapp import account, admin, api
from ai_tg_bot.bot.webapp.auth import CONTEXT, Host, WebAppContext, endpoint
from ai_tg_bot.bot.webapp.pages import add_pages

__all__ = ["Host", "add_webapp"]

API = "/app/api"
ID = r"{id:\d{1,19}}"


def add_webapp(web_app: web.Application, host: Host) -> None:
    """The page, its files and its API, on `web_app`, for the running application."""
    web_app[CONTEXT] = WebAppContext.of(host)
    add_pages(web_app)
    route = web_app.router
    route.add_get(f"{API}/me", endpoint(api.me))
    route.add_get(f"{API}/conversations", endpoint(api.conversations))
    route.add_get(f"{API}/conversations/{ID}", endpoint(api.conversation))
    route.add_delete(f"{API}/conversations/{ID}", endpoint(api.delete_conversation))
    route.add_post(f"{API}/conversations/{ID}/current", endpoint(api.make_current))
    route.add_get(f"{API}/search", endpoint(api.search))
    route.add_get(f"{API}/usage", endpoint(account.usage))
    route.add_get(f"{API}/settings", endpoint(account.get_settings))
    route.add_patch(f"{API}/settings", endpoint(account.patch_settings))
    route.add_delete(f"{API}/memory/{ID}", endpoint(api.delete_fact))
    route.add_get(f"{API}/export", endpoint(api.export))
    admin_api = f"{API}/admin"
    route.add_get(f"{admin_api}/users", endpoint(admin.users, admin=True))
    route.add_post(
        f"{admin_api}/users/{ID}/{{action:block|unblock}}", endpoint(admin.block, admin=True)
    )
    route.add_patch(f"{admin_api}/users/{ID}/limits", endpoint(admin.set_limits, admin=True))
    route.add_get(f"{admin_api}/usage", endpoint(admin.usage, admin=True))
    route.add_get(f"{admin_api}/payments", endpoint(admin.payments, admin=True))
    route.add_post(f"{admin_api}/payments/{{charge_id}}/refund", endpoint(admin.refund, admin=True))
    # Anything else under the API: JSON, not aiohttp's HTML page.
    route.add_route("*", f"{API}/{{tail:.*}}", _unknown)


async def _unknown(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": "not_found"}, status=404)
