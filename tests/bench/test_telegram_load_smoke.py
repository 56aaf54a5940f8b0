"""Benchmark 6 (bench/telegram_load.py), tiny: the real bot and the no-history baseline,
each in its own process, under a few seconds of Telegram-shaped load, polled and by
webhook, report a complete, sane result. No timing is asserted: only that every turn was
sent, answered, shown and timed, by both bots."""

from __future__ import annotations

import pytest

from bench import telegram_load
from bench.load_llm import answer, answer_pieces, question, turn_of

CONFIG = telegram_load.Config(rate=8, window_seconds=1.0, answer_seconds=0.5, chunks=3)


@pytest.fixture(params=["sqlite", "postgresql"])
def backends(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """One backend per test; PostgreSQL skips (or fails in CI) like the other suites."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_server")
    return (request.param,)


def test_turns_and_answers_carry_their_token() -> None:
    assert turn_of(question(7)) == 7
    assert turn_of("no token here") is None
    assert len(answer_pieces(7, 5)) == 5
    assert turn_of(answer(7, 5)) == 7
    assert answer(7, 5).endswith("end of turn-7.")


async def test_telegram_load(backends: tuple[str, ...]) -> None:
    result = await telegram_load.run(CONFIG, backends)
    assert set(result.raw) == set(backends)
    # Per mode, the no-history baseline's row, then the real bot's.
    assert [row[:2] for row in result.rows] == [
        [bot, mode] for mode in telegram_load.MODES for bot in (telegram_load.BASELINE, *backends)
    ]
    assert all(len(row) == len(result.columns) for row in result.rows)
    # Per mode: CPU, time-to-LLM, time-to-final and RSS against the baseline; completion.
    assert len(result.targets) == 5 * len(telegram_load.MODES)
    assert all(t.value == t.value and t.value >= 0 for t in result.targets)  # no NaN
    turns = CONFIG.turns
    assert turns == 20  # 8 a second: a ramp of 0.5 + 1 s, then a window of 1 s
    for mode, found in result.raw[backends[0]].items():
        assert found["turns_sent"] == turns, mode
        assert found["completed"] == turns, mode  # every whole answer shown
        assert found["timed"] == turns, mode  # each turn has both of its timings
        assert found["llm_repeated"] == 0, mode  # one LLM request per turn
        assert found["to_llm_samples"] > 0, mode
        assert found["to_final_samples"] > 0, mode
        assert found["to_llm_p99_ms"] > 0, mode
        assert found["to_final_p99_ms"] > 0, mode
        assert found["mid_answer_peak"] >= 1, mode
        assert found["history_ok"], mode  # every user keeps exactly the history limit
        assert found["rss_peak_mb"] > 0, mode
        assert found["final_methods"] == {"sendrichmessage": turns}, mode
        calls = found["telegram_calls_per_turn"]
        assert calls["sendrichmessage"] == 1.0, mode  # one final message per turn
        assert found["ratios"]["rss_peak_mb"] > 0, mode
        assert found["ratios"]["to_llm_p99_ms"] > 0, mode
        # The baseline, under the same load: every turn answered once, by message.answer.
        base = found["baseline"]
        assert base["completed"] == turns, mode
        assert base["timed"] == turns, mode
        assert base["llm_repeated"] == 0, mode
        assert base["final_methods"] == {"sendmessage": turns}, mode
        assert base["to_llm_p99_ms"] > 0, mode
        assert 0 < base["rss_peak_mb"] < found["rss_peak_mb"], mode
    polled, posted = result.raw[backends[0]]["polling"], result.raw[backends[0]]["webhook"]
    assert 1 <= polled["getupdates_batches"][2] <= 100  # the largest batch
    assert posted["webhook_refused"] == {}
    assert posted["webhook_ack_p99_ms"] > 0
    assert posted["baseline"]["webhook_refused"] == {}  # the secret header accepted
    assert posted["baseline"]["webhook_ack_p99_ms"] > 0
