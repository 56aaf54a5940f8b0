"""Search on both backends: ranking, snippets, paging and, above all, scope."""

from __future__ import annotations

import pytest

from ai_tg_bot.storage.accounts import AccountsStore
from ai_tg_bot.storage.search import SearchStore
from tests.seeding import SeedingStorage

USER = 7070
OTHER = 8080


@pytest.fixture
def search(storage: SeedingStorage) -> SearchStore:
    return SearchStore(storage.database, storage.settings)


async def test_matching_ranking_and_snippet(storage: SeedingStorage, search: SearchStore) -> None:
    await storage.add_message(USER, "user", "How do I bake sourdough bread at home?")
    await storage.add_message(USER, "assistant", "Bread: flour, water, salt. Bread bread bread.")
    await storage.add_message(USER, "user", "Tell me about rockets")
    page = await search.search(USER, "bread")
    assert page.total == 2
    assert [hit.role for hit in page.hits] == ["assistant", "user"], "more matches rank higher"
    assert "«" in page.hits[0].snippet
    assert "»" in page.hits[0].snippet
    assert page.hits[0].created_at.tzinfo is not None
    both = await search.search(USER, "sourdough BREAD")
    assert [hit.role for hit in both.hits] == ["user"], "every word must match, any case"
    assert (await search.search(USER, "submarine")).total == 0


async def test_russian_and_english_alike(storage: SeedingStorage, search: SearchStore) -> None:
    await storage.add_message(USER, "user", "Привет, как испечь хлеб?")
    await storage.add_message(USER, "user", "Hello, bread again")
    assert (await search.search(USER, "ХЛЕБ")).total == 1
    assert (await search.search(USER, "привет")).total == 1


async def test_scope_trimmed_found_cleared_not_others_never(
    storage: SeedingStorage, search: SearchStore, accounts: AccountsStore
) -> None:
    await accounts.set_max_history_messages(USER, 1)
    await storage.add_message(USER, "user", "alpha trimmed away")
    await storage.add_message(USER, "user", "alpha still active")
    await storage.add_message(OTHER, "user", "alpha belongs to someone else")
    page = await search.search(USER, "alpha")
    assert page.total == 2, "trimmed out of the window is still the user's"
    await storage.clear_history(USER)
    assert (await search.search(USER, "alpha")).total == 1, "reset-cleared is gone"
    await storage.add_message(USER, "user", "beta before role")
    await storage.set_conversation_role(USER, "new role")
    assert (await search.search(USER, "beta")).total == 0
    assert (await search.search(OTHER, "alpha")).total == 1


async def test_paging_and_query_syntax_is_inert(
    storage: SeedingStorage, search: SearchStore
) -> None:
    for number in range(12):
        await storage.add_message(USER, "user", f"gamma note {number}")
    first = await search.search(USER, "gamma", limit=5)
    third = await search.search(USER, "gamma", limit=5, offset=10)
    assert (first.total, len(first.hits), len(third.hits)) == (12, 5, 2)
    assert {h.seq for h in first.hits}.isdisjoint({h.seq for h in third.hits})
    # FTS operators and quotes are just words here, never syntax errors.
    for query in ['gamma OR "', "gamma* NEAR(", "gamma'); DROP TABLE messages; --", "-gamma"]:
        assert (await search.search(USER, query)).total in {0, 12}
    with pytest.raises(ValueError, match="at least one word"):
        await search.search(USER, "?! ...")
