"""Quotas and context budget in DialogueStore, and tenant isolation as a property."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_tg_bot.bot.handlers.status import render_status
from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.storage import Question
from ai_tg_bot.storage.accounts import AccountsStore
from ai_tg_bot.turns.service import TurnService
from ai_tg_bot.turns.views import TurnResult
from tests.fakes.llm import FakeLLM
from tests.seeding import SeedingStorage

USER = 4242


def storage_with(database: Database, base: Settings, **overrides: object) -> SeedingStorage:
    return SeedingStorage(database, base.model_copy(update=overrides))


async def test_daily_quota_is_exact_under_concurrency(
    database: Database, settings: Settings
) -> None:
    storage = storage_with(database, settings, daily_message_limit=5, rate_limit_per_minute=0)
    results = await asyncio.gather(
        *(storage.add_message(USER, "user", f"q{n}", enforce_quotas=True) for n in range(20)),
        return_exceptions=True,
    )
    stored = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceededError)]
    assert (len(stored), len(refused)) == (5, 15)
    assert len(await storage.load_history(USER)) == 5
    # Assistant messages and unenforced writes are not user quota.
    await storage.add_message(USER, "assistant", "answer")


async def test_rate_quota_counts_the_last_minute(database: Database, settings: Settings) -> None:
    storage = storage_with(database, settings, rate_limit_per_minute=3)
    for n in range(3):
        await storage.add_message(USER, "user", f"q{n}", enforce_quotas=True)
    with pytest.raises(QuotaExceededError) as refused:
        await storage.add_message(USER, "user", "too fast", enforce_quotas=True)
    assert refused.value.kind == "rate"
    assert "Slow down" in refused.value.user_message(refused.value.resets_at)


async def test_context_budget_leaves_old_messages_out_of_the_request(
    database: Database, settings: Settings
) -> None:
    storage = storage_with(database, settings, max_context_chars=10)
    for content in ["aaaa", "bbbb", "cccc", "dd"]:
        await storage.add_message(USER, "user", content)
    context = await storage.load_context(USER)
    assert [m["content"] for m in context.history] == ["bbbb", "cccc", "dd"]
    assert context.omitted == 1
    unlimited = await storage_with(database, settings, max_context_chars=0).load_context(USER)
    assert len(unlimited.history) == 4


async def test_limits_fall_back_to_settings_and_can_be_restored(
    database: Database, settings: Settings
) -> None:
    storage = storage_with(database, settings, default_max_history_messages=3)
    accounts = AccountsStore(storage.database, storage.settings)
    for n in range(5):
        await storage.add_message(USER, "user", f"m{n}")
    assert len(await storage.load_history(USER)) == 3
    await accounts.set_limit(USER, "history", 2)
    assert len(await storage.load_history(USER)) == 2
    await accounts.set_limit(USER, "history", None)
    assert (await accounts.limits(USER)).max_history_messages == 3
    await accounts.set_limit(USER, "daily", 7)
    await accounts.set_limit(USER, "context", 0)
    limits = await accounts.limits(USER)
    assert (limits.daily_message_limit, limits.max_context_chars) == (7, 0)
    with pytest.raises(ValueError, match="unknown model"):
        await accounts.set_model(USER, "not-a-model")


# --- Tenant isolation: random interleavings never mix users -------------------------------


class RecordingView:
    """Collects what would be shown to the user."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink
        self.text = ""

    async def __aenter__(self) -> RecordingView:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.sink.append(self.text)

    async def heard(self, transcript: str) -> None:
        self.sink.append(f"heard: {transcript}")

    async def think(self, piece: str) -> None:
        self.sink.append(f"thought: {piece}")

    async def halt(self) -> None:
        self.sink.append("halted")

    async def feed(self, piece: str) -> None:
        self.text += piece

    async def tool_used(self, name: str) -> None:
        self.sink.append(f"tool: {name}")

    async def show(self, result: TurnResult) -> None:
        self.text = result.reply or result.partial or result.refusal or ""


class RecordingPresenter:
    """A Presenter that keeps every shown answer's text."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def view(self, question: Question) -> RecordingView:
        return RecordingView(self.texts)


OPERATIONS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),
        st.sampled_from(
            ["turn", "turn", "turn", "topic", "topic", "new", "reset", "role", "limit", "retry"]
        ),
        st.integers(min_value=1, max_value=6),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
async def isolation_llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(chunk_size=7) as llm:
        yield llm


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS, seed=st.integers(min_value=0, max_value=10**9))
async def test_tenants_never_see_each_other(
    database: Database,
    settings: Settings,
    isolation_llm: FakeLLM,
    operations: list[tuple[int, str, int]],
    seed: int,
) -> None:
    """Each user's text carries their tag, and its conversation's: every request, history
    and status stays one user's, and every request one conversation's."""
    # Fresh users for every run, replays included (Hypothesis reruns an example with the
    # same seed while shrinking; the database keeps what the first run stored).
    base = random.SystemRandom().randrange(10**6, 10**12)
    users = [base + index for index in range(3)]
    config = settings.model_copy(
        update={
            "openai_base_url": isolation_llm.base_url,
            "llm_model": "fake-model",
            "rate_limit_per_minute": 0,
        }
    )
    storage = SeedingStorage(database, config)
    accounts = AccountsStore(database, config)
    chat = TurnService(storage, LLMClient(config.model_copy(update={"llm_max_retries": 0})))
    shown = RecordingPresenter()
    seen_before = len(isolation_llm.requests)

    # Each user's conversation outside topics, counted up by /new (run alone, below).
    epochs = dict.fromkeys(users, 0)

    async def run(user_index: int, action: str, number: int) -> None:
        user = users[user_index]
        tag = f"<u{user}>"
        if action == "turn":
            where = f"<c{user}:{epochs[user]}>"
            await chat.turn(user, f"{tag}{where} message {number}", shown)
        elif action == "topic":
            thread = number % 2 + 1  # a topic of the user's private chat
            where = f"<c{user}:t{thread}>"
            await chat.turn(
                user, f"{tag}{where} message {number}", shown, telegram_thread_id=thread
            )
        elif action == "new":
            if await storage.start_conversation(user):
                epochs[user] += 1
        elif action == "reset":
            await storage.clear_history(user)
        elif action == "role":
            await storage.set_conversation_role(user, f"{tag} role {number}")
        elif action == "limit":
            await accounts.set_limit(user, "history", number)
        else:
            await chat.retry(user, shown)

    # Interleave: operations run concurrently in random batches, as users would.
    # /new runs alone, so which conversation each message was meant for is exact.
    batches: list[list[tuple[int, str, int]]] = [[]]
    for operation in operations:
        if operation[1] == "new":
            batches += [[operation], []]
            continue
        batches[-1].append(operation)
        if random.Random(seed + len(batches[-1])).random() < 0.4:
            batches.append([])
    for batch in batches:
        await asyncio.gather(*(run(*operation) for operation in batch))

    for request in isolation_llm.requests[seen_before:]:
        tags = {
            part.split(">")[0]
            for message in request["messages"]
            for part in message["content"].split("<u")[1:]
        }
        assert len(tags) <= 1, f"one request mixes users: {tags}"
        places = {
            part.split(">")[0]
            for message in request["messages"]
            for part in message["content"].split("<c")[1:]
        }
        assert len(places) <= 1, f"one request mixes conversations: {places}"
    for text in shown.texts:
        assert len({part.split(">")[0] for part in text.split("<u")[1:]}) <= 1, text
    for user in users:
        others = [f"<u{other}>" for other in users if other != user]
        history = await storage.load_history(user)
        status = render_status(await storage.get_dialog_info(user))
        for text in [m["content"] for m in history] + [status]:
            assert not any(other in text for other in others)
    await chat.llm.close()
