"""The one meter: what a request to the LLM cost, whatever its ending (ADR 0011, amended).

The server's usage when it reports one; otherwise one estimator, from the request's
characters and what streamed back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Content is text, or a list of content parts (text and images) for a photo.
ChatMessages = Sequence[dict[str, Any]]


@dataclass(slots=True)
class StreamReport:
    """Token counts the server reported for one answer (zeros when it reported none),
    and whether the answer was cut at LLM_MAX_TOKENS (finish_reason "length")."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cut_at_limit: bool = False
    # The request reached the server (its stream opened, or it timed out waiting): it
    # is paid for whatever its ending, estimated when the server reported nothing.
    sent: bool = False


def text_chars(messages: ChatMessages) -> int:
    """Characters of text in chat messages (images not counted): the turn's log line, and
    an estimate of a prompt's tokens when the server reported none."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(str(part.get("text", ""))) for part in content)
    return total


# Characters per token when a server reported no usage (the usual English-text ratio).
CHARS_PER_TOKEN = 4


def estimate(report: StreamReport, prompt_chars: int, reply_chars: int) -> None:
    """Fill in token counts the server did not report (a stopped stream ends before its
    usage chunk), so what the user was billed for is still accounted."""
    if not report.prompt_tokens:
        report.prompt_tokens = -(-prompt_chars // CHARS_PER_TOKEN)
    if not report.completion_tokens:
        report.completion_tokens = -(-reply_chars // CHARS_PER_TOKEN)
