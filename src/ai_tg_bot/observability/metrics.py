"""Prometheus metrics, served at /metrics on the webhook server and on HEALTH_PORT.

Counters and histograms are this process's; `pending_questions` is the database's (every
instance's), counted by the stranded-question sweep every half lease. No label holds a
user id or anything a user wrote.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Seconds: from a quick local model's first token to a slow remote one's whole answer.
_LATENCY = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160)

TURNS = Counter("ai_tg_bot_turns", "Answers finished, by outcome", ["outcome"])
FIRST_TOKEN = Histogram(
    "ai_tg_bot_time_to_first_token_seconds",
    "From the start of an answer to the LLM's first streamed text",
    buckets=_LATENCY,
)
TURN_SECONDS = Histogram(
    "ai_tg_bot_turn_duration_seconds",
    "From the start of an answer to its final message",
    buckets=_LATENCY,
)
TOKENS = Counter("ai_tg_bot_tokens", "Tokens the LLM reported, by kind", ["kind"])
LLM_ERRORS = Counter("ai_tg_bot_llm_errors", "Failed LLM calls, by kind", ["kind"])
TELEGRAM_ERRORS = Counter(
    "ai_tg_bot_telegram_errors",
    "Failed Bot API calls (each attempt), by kind: 429 flood control, 5xx, network",
    ["kind"],
)
PENDING = Gauge(
    "ai_tg_bot_pending_questions", "Questions stored and waiting for an answer (all instances)"
)
DB_IN_USE = Gauge("ai_tg_bot_db_connections_in_use", "Database connections checked out now")
OUTPUTS = Counter(
    "ai_tg_bot_outputs",
    "Images (/image) and spoken answers (/voice) made or not, by kind and outcome",
    ["kind", "outcome"],
)
TOOL_CALLS = Counter(
    "ai_tg_bot_tool_calls",
    "MCP tool calls, by server and outcome (ok, error, timeout, unavailable)",
    ["server", "outcome"],
)


def watch_pool(checked_out: Callable[[], int]) -> None:
    """Report the pool's connections in use, read at each scrape."""
    DB_IN_USE.set_function(lambda: float(checked_out()))


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus text exposition of every metric."""
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_metrics(web_app: web.Application) -> None:
    """Serve /metrics on this web app."""
    web_app.router.add_get("/metrics", metrics)
