"""What one answered turn leaves behind for the operator: its metrics and its log lines
(the `turn` line with real fields, and the LLM failure line: never the content)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ai_tg_bot.observability import LLM_ERRORS, TOKENS, TURN_SECONDS, TURNS
from ai_tg_bot.turns.views import TurnResult

log = logging.getLogger("ai_tg_bot.answering")  # the name dashboards read (kept across moves)


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What the answerer knew of a turn besides its result."""

    user_id: int
    seconds: float
    model: str
    history: int
    omitted: int
    prompt_chars: int
    tool_calls: int


def report_turn(result: TurnResult, facts: TurnFacts) -> None:
    """The turn in the metrics and the log (ADR 0020's fields)."""
    record_turn(result, facts.seconds)
    fields = {
        "user_id": facts.user_id,
        "outcome": outcome(result),
        "latency_ms": int(facts.seconds * 1000),
        "model": facts.model,
        "history": facts.history,
        "omitted": facts.omitted,
        "prompt_chars": facts.prompt_chars,
        "reply_chars": len(result.reply or result.partial),
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "tool_calls": facts.tool_calls,
    }
    log.info("turn", extra=fields)
    if result.error is not None:
        error = result.error  # what failed, never the content (or the server's text)
        log.warning(
            "llm call failed",
            extra={
                "user_id": facts.user_id,
                "model": facts.model,
                "kind": error.kind.value,
                "status": error.status,
                "error": error.error_type or None,
            },
        )
        log.debug("answer for user %s failed: %s", facts.user_id, error.detail)


def record_turn(result: TurnResult, seconds: float) -> None:
    """The turn in the metrics: its outcome, duration, tokens and any LLM error."""
    TURNS.labels(outcome(result)).inc()
    TURN_SECONDS.observe(seconds)
    TOKENS.labels("prompt").inc(max(result.usage.prompt_tokens, 0))
    TOKENS.labels("completion").inc(max(result.usage.completion_tokens, 0))
    if result.error is not None:
        LLM_ERRORS.labels(result.error.kind.value).inc()


def outcome(result: TurnResult) -> str:
    """How the turn ended, in one word (the `turn` line's and the metric's label)."""
    if result.stopped:
        return "stopped"
    if result.refusal is not None:
        return "over_budget"
    if result.ok:
        return "ok"
    if result.voice_problem is not None:
        return f"voice_{result.voice_problem.kind}"
    return result.error.kind.value if result.error else "unknown"
