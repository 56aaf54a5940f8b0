"""The Mini App's page and its files, served from `bot/webapp/static`.

`GET /app` is the page (never cached: a new release shows at the next opening);
`GET /app/static/<name>` is one of the files in that folder, by its exact name, and only
of the kinds listed (so nothing outside the folder, and no other file in it, is served).
The page is public: it holds no data; everything it shows comes from the signed API.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
}
# Scripts only from the bot and Telegram (telegram-web-app.js); requests only to the bot.
# No inline script: a message's HTML, were it ever to carry one, would not run.
SECURITY = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' https://telegram.org; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _served(path: Path) -> web.FileResponse:
    headers = {
        "Content-Type": CONTENT_TYPES[path.suffix.lower()],
        "Cache-Control": "no-cache",
        **SECURITY,
    }
    return web.FileResponse(path, headers=headers)


async def page(request: web.Request) -> web.StreamResponse:
    """The Mini App's page."""
    index = STATIC / INDEX
    if not index.is_file():
        raise web.HTTPNotFound()
    return _served(index)


async def static_file(request: web.Request) -> web.StreamResponse:
    """One file of the static folder, by its exact name (as listed there, not as a path)."""
    name = request.match_info["name"]
    files = {entry.name: entry for entry in STATIC.iterdir()} if STATIC.is_dir() else {}
    path = files.get(name)
    if path is None or not path.is_file() or path.suffix.lower() not in CONTENT_TYPES:
        raise web.HTTPNotFound()
    return _served(path)


def add_pages(web_app: web.Application) -> None:
    """GET /app (and /app/) and GET /app/static/<name>."""
    web_app.router.add_get("/app", page)
    web_app.router.add_get("/app/", page)
    web_app.router.add_get("/app/static/{name}", static_file)
