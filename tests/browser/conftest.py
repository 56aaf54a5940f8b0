"""The Mini App in a real browser: Debian's Chromium driven by Playwright.

One Chromium per test process (launched on first use); each test opens its pages in a
fresh context 360 px wide, against a real bot (the e2e harness) serving /app on its
HEALTH_PORT. Only the bot's own origin is let through: Telegram's script, the one
outside asset, fails to load, as it may, and the page must work without it. Each page
is photographed into build/screenshots/ and checked for accessibility (a11y.js).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Route,
    ViewportSize,
    async_playwright,
)

from tests.dbs import in_ci
from tests.e2e.conftest import TOKEN, BotHarness
from tests.e2e.conftest import make_bot as make_bot  # the e2e harness's fixture, here too
from tests.webapp_auth import sign_init_data, tma

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
A11Y_CHECK = (Path(__file__).parent / "a11y.js").read_text()
VIEWPORT = ViewportSize(width=360, height=740)
DIALOG_TIMEOUT = 10


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: skipped without it (outside CI; CI must have it)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if in_ci():
            pytest.fail(message + "; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Chromium (headless), shared by the tests of this process."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium))
        yield launched
        await launched.close()


def webapp_user(user_id: int, language: str = "en", first_name: str = "Alice") -> dict[str, Any]:
    """The WebAppUser Telegram puts in initData."""
    return {"id": user_id, "first_name": first_name, "language_code": language}


@dataclass
class MiniApp:
    """One user's view of the Mini App: a browser tab on the bot's /app, and its API."""

    origin: str
    init_data: str
    context: BrowserContext
    page: Page
    outside: list[str] = field(default_factory=list)  # requests to any other origin

    async def open(
        self, route: str = "", theme: dict[str, str] | None = None, *, in_hash: bool = True
    ) -> None:
        """Open /app as Telegram does: initData (and the theme) in the URL's hash
        (`in_hash` false: left to a stand-in for Telegram's script to give)."""
        fragment = "tgWebAppVersion=8.0"
        if in_hash:
            fragment += f"&tgWebAppData={quote(self.init_data, safe='')}"
        if theme is not None:
            fragment += f"&tgWebAppThemeParams={quote(json.dumps(theme), safe='')}"
        await self.page.goto(f"{self.origin}/app#{fragment}")
        await self.page.wait_for_selector("main[data-route]")
        if route:
            await self.go(route)

    async def go(self, route: str) -> None:
        """Follow a hash route (as the tabs do) and wait until its page is shown."""
        await self.page.evaluate("route => { location.hash = route; }", route)
        await self.shown(route)

    async def shown(self, route: str) -> None:
        """Wait until the page of `route` (a hash: "#/usage") is shown."""
        await self.page.wait_for_function(
            "route => { const main = document.getElementById('main');"
            " return main.dataset.route === route && !main.hasAttribute('aria-busy'); }",
            arg=route,
        )

    def answer_next_dialog(self, accept: bool) -> Awaitable[str]:
        """Answer the next confirmation (window.confirm without Telegram's script); the
        awaitable returned gives its question once it was answered."""
        asked: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def answer(dialog: Dialog) -> None:
            await (dialog.accept() if accept else dialog.dismiss())
            asked.set_result(dialog.message)

        self.page.once("dialog", answer)
        return asyncio.wait_for(asked, DIALOG_TIMEOUT)

    async def check(self, name: str) -> None:
        """The page as it is now: no sideways scrolling at 360 px, no accessibility
        violations; its screenshot kept as build/screenshots/<name>.png."""
        await self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
        width = await self.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width[0] <= width[1], f"{name}: scrolls sideways ({width[0]} > {width[1]} px)"
        problems = await self.page.evaluate(A11Y_CHECK)
        assert problems == [], f"{name}: accessibility: {problems}"
        assert self.outside == [TELEGRAM_SCRIPT] * len(self.outside), self.outside

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the Mini App's API as this user (to check what a page did)."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, f"{self.origin}/app/api{path}", json=body, headers=tma(self.init_data)
            ) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()


async def open_mini_app(
    browser: Browser,
    bot: BotHarness,
    user: dict[str, Any],
    init_data: str | None = None,
    telegram_script: str | None = None,
) -> MiniApp:
    """A fresh 360 px tab for `user` on the bot's /app, every other origin blocked;
    Telegram's script fails to load, unless `telegram_script` is given to stand in."""
    port = bot.settings.health_port
    assert port is not None, "the bot serves /app on HEALTH_PORT when polling"
    origin = f"http://127.0.0.1:{port}"
    context = await browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = await context.new_page()
    app = MiniApp(origin, init_data or sign_init_data(TOKEN, user), context, page)

    async def only_the_bot(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            await route.continue_()
        elif route.request.url == TELEGRAM_SCRIPT and telegram_script is not None:
            app.outside.append(route.request.url)
            await route.fulfill(body=telegram_script, content_type="text/javascript")
        else:
            app.outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_bot)
    return app


@pytest.fixture
async def mini_apps(browser: Browser) -> AsyncIterator[list[MiniApp]]:
    """Tabs a test opened, closed after it."""
    opened: list[MiniApp] = []
    yield opened
    for app in opened:
        await app.context.close()
