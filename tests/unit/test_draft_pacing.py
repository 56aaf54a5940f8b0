"""Drafts share DRAFTS_PER_SECOND when many answers stream at once (issue 30)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from ai_tg_bot.bot import drafts
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.drafts import DraftReply


def reply(edit_interval: float = 1.0) -> DraftReply:
    return DraftReply(
        cast(Any, None), 1, draft_id=7, edit_interval=edit_interval, capabilities=Capabilities("on")
    )


@pytest.mark.parametrize(
    ("streaming", "wait"),
    [(0, 0.5), (1, 0.5), (15, 0.5), (30, 1.0), (300, 10.0), (1_000, 20.0)],
)
def test_the_wait_between_drafts_grows_with_the_answers_streaming(
    monkeypatch: pytest.MonkeyPatch, streaming: int, wait: float
) -> None:
    monkeypatch.setattr(DraftReply, "streaming", streaming)
    assert reply()._paced() == pytest.approx(wait)


def test_a_shorter_edit_interval_is_kept_when_few_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DraftReply, "streaming", 1)
    assert reply(edit_interval=0.05)._paced() == pytest.approx(0.05)
    assert drafts.DRAFT_REFRESH_SECONDS < 30, "a draft is refreshed before Telegram drops it"
