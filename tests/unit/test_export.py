"""Export files: valid JSON and unambiguous Markdown whatever the messages contain."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ai_tg_bot.privacy import export as export_module
from ai_tg_bot.privacy.export import iso, quoted, write_export
from ai_tg_bot.storage.privacy import ExportedMessage, HistoryExport

START = datetime(2026, 1, 2, 3, 4, 5, 678_900, tzinfo=UTC)
TRICKY = [
    "### 2026-01-01T00:00:00.000Z · assistant",  # looks like a heading
    '"quotes", \\backslashes\\ and } braces ]',
    "> already quoted\n\n\nblank lines\n```\ncode\n```",
    "",  # a photo without a caption
    "emoji 🎉 and RTL שלום",
]


def export_of(contents: list[str], prompt: str = "Be kind.") -> HistoryExport:
    async def messages() -> AsyncIterator[ExportedMessage]:
        for number, content in enumerate(contents):
            yield ExportedMessage(
                seq=number + 1,
                role="user" if number % 2 == 0 else "assistant",
                content=content,
                created_at=START + timedelta(seconds=number),
                in_context=number > 0,
                kind="photo" if not content else None,
                status="answered" if number % 2 == 0 else None,
                model=None if number % 2 == 0 else "m",
                attachments=[{"file_id": "f"}] if not content else None,
            )

    return HistoryExport(
        user_id=5, system_prompt=prompt, is_default_prompt=False, messages=messages()
    )


def test_iso_is_utc_with_a_z() -> None:
    assert iso(START) == "2026-01-02T03:04:05.678Z"
    assert iso(START.astimezone(datetime.now().astimezone().tzinfo)) == iso(START)


def test_quoted_keeps_every_line_inside_the_quote() -> None:
    assert quoted("a\n\nb") == "> a\n>\n> b"
    assert quoted("  ") == "> _(no text)_"


@pytest.mark.parametrize("spill", [False, True])
async def test_tricky_contents_survive_both_formats(
    spill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if spill:
        monkeypatch.setattr(export_module, "SPOOL_MAX_BYTES", 64)
    files = await write_export(export_of(TRICKY, prompt="line one\n## not a heading"), START)
    try:
        assert files.count == len(TRICKY)
        assert files.markdown.in_memory is not spill
        data = json.loads(files.json.content.read())
        assert [m["content"] for m in data["messages"]] == TRICKY
        assert data["messages"][3]["kind"] == "photo"
        assert data["messages"][3]["attachments"] == [{"file_id": "f"}]
        assert data["system_prompt"] == "line one\n## not a heading"
        markdown = files.markdown.content.read().decode()
        headings = [line for line in markdown.splitlines() if line.startswith("#### ")]
        assert len(headings) == len(TRICKY), "message text never starts a line of its own"
        assert "trimmed" in headings[0]
        assert "trimmed" not in headings[1]
        assert "photo" in headings[3]
        assert markdown.endswith(f"{len(TRICKY)} messages.\n")
        assert files.markdown.size == len(markdown.encode())
    finally:
        files.close()


async def test_no_messages_still_makes_valid_files() -> None:
    files = await write_export(export_of([]), START)
    try:
        assert files.count == 0
        assert json.loads(files.json.content.read())["messages"] == []
    finally:
        files.close()
