"""The final answer as Telegram rich messages: the model's Markdown, split only past
Telegram's limits (32,768 characters, 500 blocks), at block boundaries.

A block here is what Telegram renders as one: a paragraph, a heading, a list item, a
quote line, or a whole fenced code block, table or display formula. Those three are never
cut; one larger than a whole message goes alone (Telegram then refuses it, and the answer
falls back to entity messages, split as before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RICH_MESSAGE_CHARS = 32_768
RICH_MESSAGE_BLOCKS = 500

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_TABLE_ROW = re.compile(r"^\s*\|")
_FORMULA_FENCE = re.compile(r"^\s*\$\$")
_LIST_OR_QUOTE = re.compile(r"^\s*([-*+]\s|\d+[.)]\s|>|#{1,6}\s)")


@dataclass(frozen=True, slots=True)
class Block:
    """One unit that is never split: its Markdown and how many blocks Telegram counts."""

    text: str
    count: int


def blocks(markdown: str) -> list[Block]:
    """The answer's Markdown as a sequence of unsplittable blocks, in order."""
    lines = markdown.split("\n")
    found: list[Block] = []
    paragraph: list[str] = []

    def end_paragraph() -> None:
        if paragraph:
            found.append(Block("\n".join(paragraph), 1))
            paragraph.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence or _FORMULA_FENCE.match(line):
            end_paragraph()
            closing = re.compile(r"^\s{0,3}" + re.escape(fence.group(1))) if fence else None
            end = index + 1
            while end < len(lines):
                candidate = lines[end]
                if closing.match(candidate) if closing else _FORMULA_FENCE.match(candidate):
                    break
                end += 1
            found.append(Block("\n".join(lines[index : end + 1]), 1))
            index = end + 1
            continue
        if _TABLE_ROW.match(line):
            end_paragraph()
            end = index
            while end < len(lines) and _TABLE_ROW.match(lines[end]):
                end += 1
            found.append(Block("\n".join(lines[index:end]), 1))
            index = end
            continue
        if not line.strip():
            end_paragraph()
            found.append(Block("", 0))  # the blank line between blocks, kept as written
        elif _LIST_OR_QUOTE.match(line):
            end_paragraph()
            found.append(Block(line, 1))
        else:
            paragraph.append(line)
        index += 1
    end_paragraph()
    return found


def closed(markdown: str) -> str:
    """The answer with a code block or display formula left open (an answer cut at
    LLM_MAX_TOKENS, or stopped) closed, so Telegram renders the rest as written."""
    fence: str | None = None
    for line in markdown.split("\n"):
        if fence is None:
            opening = _FENCE.match(line)
            if opening:
                fence = opening.group(1)
            elif _FORMULA_FENCE.match(line):
                fence = "$$"
        elif line.strip().startswith(fence):
            fence = None
    return markdown if fence is None else markdown.rstrip("\n") + "\n" + fence


def rich_parts(
    markdown: str,
    *,
    max_chars: int = RICH_MESSAGE_CHARS,
    max_blocks: int = RICH_MESSAGE_BLOCKS,
) -> list[str]:
    """The answer as few rich messages as Telegram's limits allow (one, almost always)."""
    markdown = closed(markdown)
    if len(markdown) <= max_chars and len(markdown.split("\n")) <= max_blocks:
        return [markdown]  # cannot be over either limit: every block has a line
    parts: list[str] = []
    current: list[str] = []
    size = count = 0
    for block in blocks(markdown):
        added = len(block.text) + (1 if current else 0)
        if current and (size + added > max_chars or count + block.count > max_blocks):
            parts.append("\n".join(current).strip("\n"))
            current, size, count = [], 0, 0
            added = len(block.text)
        if not current and not block.text:
            continue  # no part starts with a blank line
        current.append(block.text)
        size += added
        count += block.count
    if current:
        parts.append("\n".join(current).strip("\n"))
    return [part for part in parts if part.strip()]
