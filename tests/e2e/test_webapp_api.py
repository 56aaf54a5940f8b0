"""Issue 32 end to end: the Mini App's page and its signed API for the user.

The real bot polls the Telegram stand-in and serves the web app on HEALTH_PORT; the
tests call it over real HTTP with initData signed as Telegram signs it
(tests.webapp_auth), on both backends, and check what reaches the database and the
bot's next answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from yarl import URL

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.webapp.pages import CONTENT_TYPES, STATIC
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import TOKEN, BotHarness, HarnessFactory
from tests.e2e.test_privacy import document
from tests.ports import free_port
from tests.webapp_auth import init_data_hash, sign_init_data, tma

ALICE = 9501
BOB = 9602
CAROL = 9703
ADMIN = 9904


def person(user_id: int, language: str | None = "en") -> dict[str, Any]:
    """A WebAppUser as initData carries it."""
    user: dict[str, Any] = {"id": user_id, "first_name": f"User{user_id}"}
    if language is not None:
        user["language_code"] = language
    return user


class WebApp:
    """The Mini App's API on a running bot, called over HTTP as the page calls it."""

    def __init__(self, http: aiohttp.ClientSession, bot: BotHarness) -> None:
        assert bot.settings.health_port is not None
        self.http = http
        self.bot = bot
        self.origin = f"http://127.0.0.1:{bot.settings.health_port}"

    async def raw(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """Any request; the status and the JSON (or the body's text when not JSON)."""
        url = self.origin + path
        async with self.http.request(method, url, headers=headers or {}, **kwargs) as response:
            body = await response.read()
            try:
                return response.status, json.loads(body)
            except ValueError:
                return response.status, body.decode("utf-8", "replace")

    async def call(
        self,
        method: str,
        path: str,
        user_id: int,
        *,
        language: str | None = "en",
        body: Any = None,
    ) -> tuple[int, Any]:
        """An API call signed for `user_id` now."""
        signed = sign_init_data(TOKEN, person(user_id, language), query_id="AAF-test")
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        return await self.raw(method, "/app/api" + path, tma(signed), **kwargs)

    async def ok(self, method: str, path: str, user_id: int, body: Any = None) -> Any:
        """A call that must succeed; its JSON."""
        status, answer = await self.call(method, path, user_id, body=body)
        assert status == 200, (method, path, status, answer)
        return answer


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start(make_bot: HarnessFactory, http: aiohttp.ClientSession, **settings: Any) -> WebApp:
    """A polling bot serving the Mini App on a HEALTH_PORT of its own."""
    bot = await make_bot(health_port=free_port(), webhook_listen_host="127.0.0.1", **settings)
    return WebApp(http, bot)


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    async with database.session(read_only=True) as session:
        return (await session.execute(text(sql), params)).scalar()


async def conversation_ids(app: WebApp, user_id: int) -> list[int]:
    listed = (await app.ok("GET", "/conversations", user_id))["conversations"]
    return [c["id"] for c in listed]


def system_message(request: dict[str, Any]) -> str:
    first = request["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


# ---- sign-in ---------------------------------------------------------------------------
async def test_sign_in_needs_telegrams_signature_a_fresh_date_and_the_tma_scheme(
    make_bot: HarnessFactory, http: aiohttp.ClientSession
) -> None:
    app = await start(make_bot, http, allowed_user_ids=str(ALICE), admin_user_ids=str(ADMIN))
    unauthorized = (401, {"error": "unauthorized"})
    now = int(time.time())
    good = sign_init_data(TOKEN, person(ALICE))
    assert await app.raw("GET", "/app/api/me") == unauthorized
    assert await app.raw("GET", "/app/api/me", {"Authorization": f"Bearer {good}"}) == unauthorized
    assert await app.raw("GET", "/app/api/me", {"Authorization": "tma"}) == unauthorized
    assert await app.raw("GET", "/app/api/me", tma("not=init&data")) == unauthorized
    # Signed with another bot's token; or Alice's signature on Bob's id.
    forged = sign_init_data("654321:other-token", person(ALICE))
    assert await app.raw("GET", "/app/api/me", tma(forged)) == unauthorized
    swapped = good.replace(f"%22id%22%3A{ALICE}", f"%22id%22%3A{BOB}")
    assert swapped != good
    assert await app.raw("GET", "/app/api/me", tma(swapped)) == unauthorized
    # Too old (WEBAPP_MAX_AGE_SECONDS, a day by default), or dated in the future.
    expired = sign_init_data(TOKEN, person(ALICE), auth_date=now - 86_400 - 60)
    assert await app.raw("GET", "/app/api/me", tma(expired)) == unauthorized
    ahead = sign_init_data(TOKEN, person(ALICE), auth_date=now + 600)
    assert await app.raw("GET", "/app/api/me", tma(ahead)) == unauthorized
    # A signed initData without a user names nobody.
    fields = {"auth_date": str(now), "query_id": "AAF"}
    nobody = "&".join(f"{k}={v}" for k, v in fields.items())
    nobody += "&hash=" + init_data_hash(TOKEN, fields)
    assert await app.raw("GET", "/app/api/me", tma(nobody)) == unauthorized

    status, me = await app.raw("GET", "/app/api/me", tma(good))
    assert status == 200, me
    assert me["user"] == {"id": ALICE, "first_name": f"User{ALICE}", "language": "en"}
    assert me["admin"] is False
    assert me["features"] == {"voice": False, "payments": False, "memory_tool": False}
    assert me["texts"]
    assert all(isinstance(v, str) and v for v in me["texts"].values())
    # An hour old is fine; the language of the Telegram app is taken when shipped.
    recent = sign_init_data(TOKEN, person(ALICE, "ru"), auth_date=now - 3600)
    status, me = await app.raw("GET", "/app/api/me", tma(recent))
    assert (status, me["user"]["language"]) == (200, "ru")

    # Outside ALLOWED_USER_IDS: signed, but refused; an admin always passes.
    assert await app.call("GET", "/me", BOB) == (403, {"error": "forbidden"})
    assert (await app.ok("GET", "/me", ADMIN))["admin"] is True
    assert app.bot.llm.calls == 0


async def test_the_page_and_its_files_are_served_and_nothing_else(
    make_bot: HarnessFactory, http: aiohttp.ClientSession
) -> None:
    app = await start(make_bot, http)
    async with http.get(app.origin + "/app") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.headers["Cache-Control"] == "no-cache"
        assert "<html" in (await response.text()).lower()
    served = [p for p in STATIC.iterdir() if p.is_file() and p.suffix in CONTENT_TYPES]
    for path in served:
        async with http.get(f"{app.origin}/app/static/{path.name}") as response:
            assert response.status == 200, path.name
            assert response.headers["Content-Type"] == CONTENT_TYPES[path.suffix], path.name
            assert await response.read() == path.read_bytes()
    # Sent as written (no client-side normalising of the dots).
    for name in ("missing.js", "pages.py", "..%2Fauth.py", "%2E%2E%2Fpages.py", "../pages.py"):
        url = URL(f"{app.origin}/app/static/{name}", encoded=True)
        async with http.get(url) as response:
            assert response.status == 404, name
    assert await app.call("GET", "/no-such-thing", ALICE) == (404, {"error": "not_found"})


# ---- conversations ---------------------------------------------------------------------
async def test_conversations_are_listed_read_switched_and_deleted_only_by_their_owner(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http)
    bot = app.bot
    await bot.say(ALICE, "first <i>question</i>")
    bot.llm.queue_reply("**bold** answer with `code` and <b>markup</b>")
    await bot.say(ALICE, "second one")
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, "another topic")
    await bot.say(BOB, "bob's own")
    await bot.say(BOB, "/remember Bob likes tea")

    listed = (await app.ok("GET", "/conversations", ALICE))["conversations"]
    assert [(c["title"], c["messages"], c["current"]) for c in listed] == [
        ("another topic", 2, True),
        ("first <i>question</i>", 4, False),
    ]
    assert all(c["last_active_at"].endswith("Z") for c in listed)
    newer, older = (c["id"] for c in listed)
    (bobs,) = await conversation_ids(app, BOB)

    shown = await app.ok("GET", f"/conversations/{older}", ALICE)
    assert (shown["id"], shown["current"], shown["omitted"]) == (older, False, 0)
    assert shown["role"] == bot.settings.default_system_prompt
    assert [(m["role"], m["in_context"]) for m in shown["messages"]] == [
        ("user", True),
        ("assistant", True),
        ("user", True),
        ("assistant", True),
    ]
    first, answer = shown["messages"][0]["html"], shown["messages"][3]["html"]
    assert first == "first &lt;i&gt;question&lt;/i&gt;", "the user's words are text"
    assert "<b>bold</b>" in answer
    assert "<code>code</code>" in answer
    assert "<b>markup</b>" not in answer, "the model's text is never taken as HTML"

    # Bob's conversation and fact are not Alice's: not found, and nothing changes.
    (fact,) = (await app.ok("GET", "/settings", BOB))["facts"]
    not_found = (404, {"error": "not_found"})
    assert await app.call("GET", f"/conversations/{bobs}", ALICE) == not_found
    assert await app.call("DELETE", f"/conversations/{bobs}", ALICE) == not_found
    assert await app.call("POST", f"/conversations/{bobs}/current", ALICE) == not_found
    assert await app.call("DELETE", f"/memory/{fact['id']}", ALICE) == not_found
    assert await app.call("GET", "/conversations/99999999999999999999", ALICE) == not_found
    assert await conversation_ids(app, BOB) == [bobs]
    assert len((await app.ok("GET", "/settings", BOB))["facts"]) == 1

    # Back to the older one: the next question is answered with its history.
    assert await app.ok("POST", f"/conversations/{older}/current", ALICE) == {
        "current": older,
        "title": "first <i>question</i>",
    }
    await bot.say(ALICE, "follow-up")
    sent = [m["content"] for m in bot.llm.last_request["messages"][1:]]
    assert sent[0] == "first <i>question</i>"
    assert sent[-1] == "follow-up"

    # Deleting the current one: cleared as /reset, off the list, nobody's current.
    assert await app.ok("DELETE", f"/conversations/{older}", ALICE) == {"deleted": True}
    assert await conversation_ids(app, ALICE) == [newer]
    assert await app.call("GET", f"/conversations/{older}", ALICE) == not_found
    assert await app.call("DELETE", f"/conversations/{older}", ALICE) == not_found
    current = "SELECT current_conversation_id FROM users WHERE id = :u"
    assert await scalar(database, current, u=ALICE) is None
    cleared = "SELECT count(*) FROM messages WHERE conversation_id = :c AND deleted_at IS NULL"
    assert await scalar(database, cleared, c=older) == 0
    deleted = "SELECT deleted_at IS NOT NULL FROM conversations WHERE id = :c"
    assert await scalar(database, deleted, c=older)
    await bot.say(ALICE, "fresh start")
    assert [m["content"] for m in bot.llm.last_request["messages"][1:]] == ["fresh start"]

    # Bob deletes his own fact.
    assert await app.ok("DELETE", f"/memory/{fact['id']}", BOB) == {"deleted": True}
    assert (await app.ok("GET", "/settings", BOB))["facts"] == []


async def test_search_finds_only_the_users_own_messages_ranked_and_paged(
    make_bot: HarnessFactory, http: aiohttp.ClientSession
) -> None:
    app = await start(make_bot, http)
    await app.bot.say(ALICE, "the purple elephant dances")
    await app.bot.say(ALICE, "a green frog")
    await app.bot.say(BOB, "purple elephant of bob")
    (alices,) = await conversation_ids(app, ALICE)

    found = await app.ok("GET", "/search?q=purple+elephant!", ALICE)
    assert (found["query"], found["total"], found["more"]) == ("purple elephant", 2, False)
    assert {(r["conversation_id"], r["role"]) for r in found["results"]} == {
        (alices, "user"),
        (alices, "assistant"),
    }
    assert all("«" in r["snippet"] and "bob" not in r["snippet"] for r in found["results"])
    assert (await app.ok("GET", "/search?q=frog&page=2", ALICE))["results"] == []
    for query in ("", "?q=", "?q=%21%21", "?q=frog&page=0", "?q=frog&page=x"):
        status, answer = await app.call("GET", "/search" + query, ALICE)
        assert status == 400, query
        assert answer["error"] in ("empty_query", "bad_page"), answer
        assert answer["message"], answer


# ---- settings --------------------------------------------------------------------------
async def test_settings_changes_reach_the_database_and_the_next_answer(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, llm_models="fake-model,other-model", memory_max_facts=5)
    bot = app.bot
    await bot.say(ALICE, "/remember I live in Berlin")
    await bot.say(ALICE, "hello")
    assert "I live in Berlin" in system_message(bot.llm.last_request)
    before = await app.ok("GET", "/settings", ALICE)
    assert before["language"] is None
    assert before["model"] == "fake-model"
    assert before["models"] == ["fake-model", "other-model"]
    assert (before["voice"], before["voice_available"], before["memory"]) == ("off", False, True)
    assert [f["text"] for f in before["facts"]] == ["I live in Berlin"]
    assert [lang["code"] for lang in before["languages"]] == ["en", "ru"]

    # Bad input: a 400 with a code and a message, and nothing changes, not even the
    # valid part of the same request.
    bad: list[tuple[Any, str]] = [
        ({"model": "gpt-unknown"}, "unknown_model"),
        ({"model": "other-model", "role": "x" * 4001}, "role_too_long"),
        ({"language": "xx"}, "unknown_language"),
        ({"voice": "on"}, "voice_unavailable"),
        ({"memory": "off"}, "bad_memory"),
        ({"colour": "blue"}, "unknown_field"),
        ([1, 2], "bad_json"),
    ]
    for body, code in bad:
        status, answer = await app.call("PATCH", "/settings", ALICE, body=body)
        assert (status, answer["error"]) == (400, code), answer
        assert answer["message"]
    status, answer = await app.raw(
        "PATCH", "/app/api/settings", tma(sign_init_data(TOKEN, person(ALICE))), data=b"{oops"
    )
    assert (status, answer["error"]) == (400, "bad_json")
    assert await app.ok("GET", "/settings", ALICE) == before
    status, answer = await app.call("PATCH", "/settings", ALICE, body={"role": "y" * 4001})
    assert (status, answer["message"]) == (400, texts.role_too_long(4001, 4000))

    # The role and the model: stored, and in the next request to the LLM.
    after = await app.ok(
        "PATCH", "/settings", ALICE, {"role": "You are a pirate.", "model": "other-model"}
    )
    assert (after["role"], after["model"]) == ("You are a pirate.", "other-model")
    prompt = "SELECT system_prompt FROM conversations WHERE user_id = :u"
    assert await scalar(database, prompt, u=ALICE) == "You are a pirate."
    model = "SELECT model FROM user_settings WHERE user_id = :u"
    assert await scalar(database, model, u=ALICE) == "other-model"
    await bot.say(ALICE, "ahoy?")
    request = bot.llm.last_request
    assert request["model"] == "other-model"
    assert system_message(request).startswith("You are a pirate.")
    assert [m["content"] for m in request["messages"][1:]] == ["ahoy?"], "a new role starts afresh"
    # The same role again is no change: the conversation keeps its history.
    await app.ok("PATCH", "/settings", ALICE, {"role": "You are a pirate."})
    await bot.say(ALICE, "still there?")
    assert len(bot.llm.last_request["messages"]) == 4

    # Memory off: kept, but no longer given to the model.
    assert (await app.ok("PATCH", "/settings", ALICE, {"memory": False}))["memory"] is False
    memory = "SELECT memory_enabled FROM user_settings WHERE user_id = :u"
    assert await scalar(database, memory, u=ALICE) in (False, 0)
    await bot.say(ALICE, "where do I live?")
    assert "Berlin" not in system_message(bot.llm.last_request)

    # The language: stored, the bot speaks it, and the API's messages too.
    assert (await app.ok("PATCH", "/settings", ALICE, {"language": "ru"}))["language"] == "ru"
    language = "SELECT language FROM user_settings WHERE user_id = :u"
    assert await scalar(database, language, u=ALICE) == "ru"
    assert (await app.ok("GET", "/me", ALICE))["user"]["language"] == "ru"
    (reply,) = await bot.say(ALICE, "/language")
    assert reply.startswith("Язык общения: русский."), reply
    # Back to the default role, and to the Telegram app's language.
    after = await app.ok("PATCH", "/settings", ALICE, {"role": None, "language": None})
    assert (after["role"], after["language"]) == (bot.settings.default_system_prompt, None)
    assert await scalar(database, language, u=ALICE) is None


async def test_voice_can_be_chosen_when_speech_is_offered(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, tts_model="fake-tts")
    assert (await app.ok("GET", "/me", ALICE))["features"]["voice"] is True
    for mode in ("auto", "on", "off"):
        assert (await app.ok("PATCH", "/settings", ALICE, {"voice": mode}))["voice"] == mode
    status, answer = await app.call("PATCH", "/settings", ALICE, body={"voice": "loud"})
    assert (status, answer["error"]) == (400, "bad_voice")
    await app.ok("PATCH", "/settings", ALICE, {"voice": "auto"})
    auto = "SELECT voice_auto FROM user_settings WHERE user_id = :u"
    assert await scalar(database, auto, u=ALICE) in (True, 1)


# ---- usage and export ------------------------------------------------------------------
async def test_usage_gives_30_days_with_todays_tokens_and_the_budgets(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, monthly_token_limit=1_000_000, daily_message_limit=50)
    await app.bot.say(ALICE, "count my tokens")
    await app.bot.say(ALICE, "and these")
    used = await scalar(
        database,
        "SELECT SUM(prompt_tokens + completion_tokens) FROM token_usage WHERE user_id = :u",
        u=ALICE,
    )
    assert used > 0
    usage = await app.ok("GET", "/usage", ALICE)
    days = usage["days"]
    assert len(days) == 30
    assert days[-1] == {"date": datetime.now(UTC).date().isoformat(), "tokens": used}
    assert all(day["tokens"] == 0 for day in days[:-1])
    assert [d["date"] for d in days] == sorted(d["date"] for d in days)
    assert (usage["daily_budget"], usage["monthly_budget"]) == (0, 1_000_000)
    assert (usage["month_tokens"], usage["today_tokens"], usage["credit"]) == (used, used, 0)
    assert (usage["messages_today"], usage["daily_messages"]) == (2, 50)
    assert usage["payments"] == []
    assert (await app.ok("GET", "/usage", BOB))["days"][-1]["tokens"] == 0


async def test_export_downloads_the_same_file_as_the_command_and_is_counted(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, rate_limit_per_minute=4)
    bot = app.bot
    await bot.say(ALICE, "remember this dialogue")
    await bot.say(ALICE, "/remember I like trains")
    signed = tma(sign_init_data(TOKEN, person(ALICE)))

    async with http.get(app.origin + "/app/api/export", headers=signed) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith(f'attachment; filename="history-{ALICE}-')
        downloaded = json.loads(await response.read())
    async with http.get(app.origin + "/app/api/export?format=markdown", headers=signed) as md:
        assert md.status == 200
        assert md.headers["Content-Type"] == "text/markdown; charset=utf-8"
        assert "> remember this dialogue" in await md.text()
    exports = "SELECT count(*) FROM usage_events WHERE user_id = :u AND kind = 'export'"
    assert await scalar(database, exports, u=ALICE) == 2

    assert await bot.say(ALICE, "/export") == []
    sent = json.loads(document(bot, ALICE, ".json").data)
    for exported in (downloaded, sent):
        exported.pop("exported_at")
    assert downloaded == sent
    assert [f["text"] for f in downloaded["memory"]] == ["I like trains"]

    status, answer = await app.call("GET", "/export?format=pdf", ALICE)
    assert (status, answer["error"]) == (400, "bad_format")
    # Counted with the messages by the per-minute guard (a question and three exports
    # so far): the fifth this minute is refused, as /export would be.
    status, answer = await app.call("GET", "/export", ALICE)
    assert (status, answer["error"]) == (429, "rate_limited"), answer
    assert answer["message"].startswith("⏳ Slow down: at most 4 messages a minute.")
    nothing = {"error": "nothing_to_export", "message": texts.NOTHING_TO_EXPORT}
    assert await app.call("GET", "/export", CAROL) == (404, nothing)
