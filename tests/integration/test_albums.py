"""AlbumsStore on both backends: a part stored once, an album taken once, by one taker."""

from __future__ import annotations

import asyncio
from typing import Any

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.storage.albums import AlbumsStore, AlbumTake
from ai_tg_bot.storage.privacy import PrivacyStore
from tests.seeding import SeedingStorage

USER = 1001
OTHER = 2002
CHAT = USER
LONG = 600.0  # a window no test waits out


def details(n: int) -> dict[str, Any]:
    return {"kind": "photo", "caption": f"part\x00 {n}", "message": {"message_id": n}}


async def test_a_redelivered_part_is_stored_once(database: Database, settings: Settings) -> None:
    store = AlbumsStore(database, settings)
    assert await store.add_part("g", USER, CHAT, 1, details(1))
    assert not await store.add_part("g", USER, CHAT, 1, details(1)), "the same message"
    assert await store.add_part("g", USER, CHAT, 2, details(2))
    taken = await store.take("g", 0.0)
    assert [(p.message_id, p.details["caption"]) for p in taken.parts] == [
        (1, "part 1"),
        (2, "part 2"),
    ], "in message order, NUL stripped"


async def test_an_album_is_not_taken_before_its_window(
    database: Database, settings: Settings
) -> None:
    store = AlbumsStore(database, settings)
    await store.add_part("g", USER, CHAT, 2, details(2))
    await store.add_part("g", USER, CHAT, 1, details(1))
    early = await store.take("g", LONG)
    assert early.parts == ()
    assert early.newest is not None, "it waits: the newest part's time"
    assert await store.waiting() == ["g"]
    assert await store.waiting(LONG) == [], "not idle that long"

    taken = await store.take("g", 0.0)
    assert [p.message_id for p in taken.parts] == [1, 2]
    assert {p.user_id for p in taken.parts} == {USER}
    assert await store.take("g", 0.0) == AlbumTake(), "nothing left"
    assert await store.waiting() == []


async def test_of_many_takers_at_once_exactly_one_gets_the_album(
    database: Database, settings: Settings
) -> None:
    # Separate stores as separate processes would have them, on separate connections.
    stores = [AlbumsStore(database, settings) for _ in range(8)]
    for round_ in range(5):
        group = f"g-{round_}"
        for n in range(1, 4):
            await stores[0].add_part(group, USER, CHAT, round_ * 10 + n, details(n))
        takes = await asyncio.gather(*(store.take(group, 0.0) for store in stores))
        winners = [t for t in takes if t.parts]
        assert len(winners) == 1, takes
        assert [p.message_id for p in winners[0].parts] == [round_ * 10 + n for n in (1, 2, 3)]
        assert all(t == AlbumTake() for t in takes if not t.parts)
    assert await stores[0].waiting() == []


async def test_albums_are_apart_and_forget_deletes_the_users_parts(
    database: Database, settings: Settings, storage: SeedingStorage
) -> None:
    store = AlbumsStore(database, settings)
    await storage.ensure_user(USER)
    await store.add_part("mine", USER, CHAT, 1, details(1))
    await store.add_part("theirs", OTHER, OTHER, 1, details(1))
    assert sorted(await store.waiting()) == ["mine", "theirs"]
    await PrivacyStore(database, settings).forget_user(USER)
    assert await store.waiting() == ["theirs"]
    (part,) = (await store.take("theirs", 0.0)).parts
    assert (part.user_id, part.chat_id, part.media_group_id) == (OTHER, OTHER, "theirs")
