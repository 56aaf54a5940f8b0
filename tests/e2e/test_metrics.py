"""/metrics on the real bot over HTTP (HEALTH_PORT), on both database backends: it parses
as Prometheus text, and a turn moves the counters."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import HarnessFactory

USER = 4711


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int) -> Samples:
    """Every sample as (name, labels) -> value, parsed as Prometheus parses it."""
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_parse_and_a_turn_moves_the_counters(
    make_bot: HarnessFactory, unused_tcp_port: int
) -> None:
    bot = await make_bot(health_port=unused_tcp_port, webhook_listen_host="127.0.0.1")
    before = await scrape(unused_tcp_port)
    for name in (
        "ai_tg_bot_time_to_first_token_seconds_count",
        "ai_tg_bot_turn_duration_seconds_count",
        "ai_tg_bot_pending_questions",
        "ai_tg_bot_db_connections_in_use",
    ):
        assert any(key[0] == name for key in before), name
    assert await bot.say(USER, "count me") == ["Echo: count me"]
    bot.llm.fail_next(500, times=3)  # every retry of the one call
    await bot.say(USER, "fail me")
    after = await scrape(unused_tcp_port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ai_tg_bot_turns_total", outcome="ok") == 1
    assert moved("ai_tg_bot_turns_total", outcome="server_error") == 1
    assert moved("ai_tg_bot_llm_errors_total", kind="server_error") == 1
    assert moved("ai_tg_bot_turn_duration_seconds_count") == 2
    assert moved("ai_tg_bot_time_to_first_token_seconds_count") == 1
    assert moved("ai_tg_bot_tokens_total", kind="completion") > 0
    assert moved("ai_tg_bot_tokens_total", kind="prompt") > 0
    assert value(after, "ai_tg_bot_db_connections_in_use") >= 0
