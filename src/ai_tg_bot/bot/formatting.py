"""Render LLM Markdown as Telegram plain text + entities and split it into sendable messages."""

from __future__ import annotations

import logging
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from aiogram.types import MessageEntity
from telegramify_markdown import convert
from telegramify_markdown.config import RenderConfig
from telegramify_markdown.entity import MessageEntity as RawEntity

from ai_tg_bot.tools import tool_line

logger = logging.getLogger(__name__)

TELEGRAM_MESSAGE_LIMIT = 4096
MAX_ENTITIES = 100  # Telegram honours only this many entities per message

# A private config: nobody else's tweaks to the library's global one leak in, and its default
# "unchecked task" symbol (☑) looks checked.
_CONFIG = RenderConfig.isolated()
_CONFIG.markdown_symbol.task_uncompleted = "\N{BALLOT BOX}"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# What keeps a "<" as it is: a fenced code block, a code span, an autolink, a line
# indented as code; any other "<" is escaped, or the renderer takes `<word ...>` for HTML
# and drops it ("Press <Enter> if a<b" lost its words).
_KEEPS_ANGLES = re.compile(
    r"^[ ]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ ]{0,3}\1[^\n]*$|\Z)"  # a fenced block
    r"|(`+).+?(?<!`)\2(?!`)"  # a code span
    r"|<(?:https?|mailto|tg):[^\s<>]*>"  # an autolink
    r"|^(?:[ ]{4}|\t)[^\n]*$",  # an indented code line
    re.MULTILINE | re.DOTALL,
)
_ANGLE = re.compile(r"(?<!\\)<")  # one not escaped already
# Cut candidates are the ends of separator runs: the separator stays with the earlier part, and
# the indentation of a code line stays with its line.
_PARAGRAPH = re.compile(r"\n(?:[^\S\n]*\n)+")
_LINE = re.compile(r"\n(?:[^\S\n]*\n)*")
_SPACE = re.compile(r"[^\S\r\n]+")
_VISIBLE = re.compile(r"\S")
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # ZWJ and variation selectors
_MAX_BACKOFF = 32  # how far a hard cut may move back to keep a grapheme cluster whole


@dataclass(frozen=True)
class Chunk:
    """One Telegram message: plain text plus entities with chunk-relative UTF-16 offsets."""

    text: str
    entities: list[MessageEntity]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _to_aiogram(raw: RawEntity, total: int) -> MessageEntity | None:
    """Clip a library entity to the text; None when the Bot API would reject it."""
    start, end = max(raw.offset, 0), min(raw.offset + raw.length, total)
    # text_mention needs a User object, which Markdown cannot carry.
    if end <= start or raw.type == "text_mention" or (raw.type == "text_link" and not raw.url):
        return None
    return MessageEntity(
        type=raw.type,
        offset=start,
        length=end - start,
        url=raw.url,
        language=raw.language,
        custom_emoji_id=raw.custom_emoji_id,
        unix_time=raw.unix_time,
        date_time_format=raw.date_time_format,
    )


def render_markdown(markdown: str) -> tuple[str, list[MessageEntity]]:
    """Convert Markdown to (plain text, entities); never raises, degrading to the raw text."""
    # Lone surrogates can be neither fed to the UTF-8 parser nor sent to Telegram.
    markdown = _LONE_SURROGATE.sub("\ufffd", markdown)
    markdown = _escaped_angles(markdown)
    try:
        text, raw_entities = convert(markdown, config=_CONFIG)
        total = utf16_length(text)
        entities = [e for e in (_to_aiogram(r, total) for r in raw_entities) if e is not None]
    except Exception:
        logger.debug("telegramify-markdown failed; falling back to raw text", exc_info=True)
        return markdown, []
    return text, entities


def _escaped_angles(markdown: str) -> str:
    """Every "<" outside code and autolinks escaped, so it is shown as written (a model's
    answer holds no HTML to render: Telegram would not take it either)."""
    if "<" not in markdown:
        return markdown
    parts, end = [], 0
    for kept in _KEEPS_ANGLES.finditer(markdown):
        parts.append(_ANGLE.sub(r"\\<", markdown[end : kept.start()]))
        parts.append(kept.group())
        end = kept.end()
    parts.append(_ANGLE.sub(r"\\<", markdown[end:]))
    return "".join(parts)


def _glued(text: str, i: int) -> bool:
    """Whether a cut between text[i - 1] and text[i] would split a user-perceived character."""
    prev, cur = text[i - 1], text[i]
    if cur in _JOINERS or prev == "\u200d" or (prev == "\r" and cur == "\n"):
        return True
    if unicodedata.category(cur) in ("Mn", "Mc", "Me") or "\U0001f3fb" <= cur <= "\U0001f3ff":
        return True  # combining mark or emoji skin-tone modifier
    if not "\U0001f1e6" <= cur <= "\U0001f1ff":
        return False
    # Regional indicators pair up into flags; a cut after an odd count splits one.
    run = 0
    while i - run > 0 and "\U0001f1e6" <= text[i - run - 1] <= "\U0001f1ff":
        run += 1
    return run % 2 == 1


class _Splitter:
    """Chooses cut points for one text; positions are Python string indices."""

    def __init__(self, text: str, limit: int, code_blocks: Sequence[MessageEntity] = ()) -> None:
        if limit < 2:
            raise ValueError("limit must be >= 2: a character outside the BMP takes 2 units")
        self.text, self.limit = text, limit
        self.units = [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]
        self.kinds = [[m.end() for m in rx.finditer(text)] for rx in (_PARAGRAPH, _LINE, _SPACE)]
        # Code blocks as sorted, non-overlapping string index spans.
        n, units = len(text), self.units
        spans = [
            (bisect_left(units, e.offset), bisect_left(units, e.offset + e.length))
            for e in code_blocks
        ]
        self.pres: list[tuple[int, int]] = []
        for start, end in sorted((min(a, n), min(b, n)) for a, b in spans):
            if self.pres and start < self.pres[-1][1]:
                self.pres[-1] = (self.pres[-1][0], max(end, self.pres[-1][1]))
            elif start < end:
                self.pres.append((start, end))
        self.pre_starts = [start for start, _ in self.pres]
        self.last = len(text.rstrip()) - 1  # the last visible character

    def _pre_at(self, pos: int) -> tuple[int, int] | None:
        """The code block that a cut at pos would split, if any."""
        i = bisect_left(self.pre_starts, pos) - 1
        return self.pres[i] if i >= 0 and pos < self.pres[i][1] else None

    def _latest(self, cands: list[int], lo: int, hi: int, *, inside: bool) -> int | None:
        """The latest candidate in [lo, hi] that is (or is not) inside a code block."""
        i = bisect_right(cands, hi) - 1
        while i >= 0 and cands[i] >= lo:
            if (self._pre_at(cands[i]) is not None) == inside:
                return cands[i]
            i -= 1
        return None

    def _cut(self, start: int) -> int:
        """Where the part beginning at start should end."""
        units, limit, n = self.units, self.limit, len(self.text)
        hi = bisect_right(units, units[start] + limit) - 1
        if hi >= n:
            return n
        # Telegram rejects whitespace-only messages, so boundaries come from (first, top]: both
        # this part and the rest then keep something visible.
        visible = _VISIBLE.search(self.text, start)
        first = (visible.start() if visible else n) + 1
        top = min(hi, self.last)
        # First look only at cuts leaving the part at least half full, so a late line break
        # beats an early paragraph break instead of producing a needlessly small message.
        half = bisect_left(units, units[start] + limit // 2, first)
        for cands in self.kinds:
            if (cut := self._latest(cands, half, top, inside=False)) is not None:
                return cut
        block = self._pre_at(hi)
        if block is not None:
            if first <= block[0] <= top and units[block[1]] - units[block[0]] <= limit:
                return block[0]  # the whole code block fits in the next message
            # The block must be cut anyway; a line boundary inside it keeps code lines whole.
            inner = self._latest(self.kinds[1], max(first, block[0] + 1), top, inside=True)
            if inner is not None:
                return inner
        outside = [c for k in self.kinds if (c := self._latest(k, first, top, inside=False))]
        if outside:
            return max(outside)
        if block is not None:
            inner = self._latest(self.kinds[2], max(half, block[0] + 1), top, inside=True)
            if inner is not None:
                return inner
        base = cut = self.last if first <= self.last < hi else hi
        floor = first if first <= base else start + 1  # backing off must not blank the part
        while cut > floor and base - cut < _MAX_BACKOFF and _glued(self.text, cut):
            cut -= 1
        return base if _glued(self.text, cut) else cut

    def ranges(self) -> list[tuple[int, int]]:
        """Cut the whole text, folding whitespace-only parts into a neighbour that has room."""
        parts: list[tuple[int, int]] = []
        start = 0
        while start < len(self.text):
            end = self._cut(start)
            prev = parts[-1][0] if parts else start
            # Telegram rejects whitespace-only messages; one survives only if no neighbour has room.
            blank = self.text[start:end].isspace() or self.text[prev:start].isspace()
            if parts and blank and self.units[end] - self.units[prev] <= self.limit:
                parts[-1] = (prev, end)
            else:
                parts.append((start, end))
            start = end
        return parts


def split_plain(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Split text into parts of at most limit UTF-16 units that rejoin to it exactly."""
    return [text[a:b] for a, b in _Splitter(text, limit).ranges()]


def split_formatted(
    text: str, entities: list[MessageEntity], limit: int = TELEGRAM_MESSAGE_LIMIT
) -> list[Chunk]:
    """Split text + entities like split_plain, sparing code blocks and rebasing entities."""
    splitter = _Splitter(text, limit, [e for e in entities if e.type == "pre"])
    ordered = sorted(entities, key=lambda e: (e.offset, -e.length))
    chunks: list[Chunk] = []
    for a, b in splitter.ranges():
        lo, hi = splitter.units[a], splitter.units[b]
        clipped: list[MessageEntity] = []
        for e in ordered:
            if e.offset >= hi or len(clipped) == MAX_ENTITIES:
                break
            start, end = max(e.offset, lo), min(e.offset + e.length, hi)
            if end > start:  # a code block cut in two stays a code block in both parts
                clipped.append(e.model_copy(update={"offset": start - lo, "length": end - start}))
        chunks.append(Chunk(text[a:b], clipped))
    return chunks


def format_reply(markdown: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[Chunk]:
    """Render LLM Markdown into send-ready chunks; [] when there is nothing to send."""
    if not markdown.strip():
        return []
    text, entities = render_markdown(markdown)
    return [c for c in split_formatted(text, entities, limit) if c.text.strip()]


def plain_chunks(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[Chunk]:
    """Entity-free send-ready chunks: the fallback when formatting is rejected, and previews."""
    return [Chunk(part, []) for part in split_plain(text, limit) if part.strip()]


TOOL_LINES = 10  # tool calls named above an answer, at most


def tool_lines(names: Sequence[str]) -> str:
    """One line per tool call ("🔧 server: tool", 🧠 for the memory), the first few;
    never their results."""
    lines = [tool_line(name) for name in names[:TOOL_LINES]]
    if len(names) > TOOL_LINES:
        lines.append(f"🔧 … (+{len(names) - TOOL_LINES})")
    return "\n".join(lines)


def with_tools(markdown: str, names: Sequence[str]) -> str:
    """The answer, after the lines naming the tools used for it (if any)."""
    return f"{tool_lines(names)}\n\n{markdown}" if names else markdown
