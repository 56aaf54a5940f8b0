"""An answer made speakable: Markdown taken out, then cut into parts a speech API takes.

OpenAI's /audio/speech takes at most 4,096 characters of input; a longer answer is
spoken in parts of at most SPEECH_PART_CHARS, cut at paragraph, then sentence, then
word boundaries, each part its own voice message, in order.
"""

from __future__ import annotations

import re

from ai_tg_bot.i18n import _

# Characters per speech request (OpenAI's input limit is 4,096).
SPEECH_PART_CHARS = 4000

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_MATH_BLOCK = re.compile(r"\$\$.+?\$\$", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"<?https?://[^\s>)]*[^\s>).,;:!?]>?")
_TAG = re.compile(r"</?[A-Za-z][^>\n]*>")
_INLINE_CODE = re.compile(r"`+([^`\n]*)`+")
_EMPHASIS = (
    re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?!\w)"),
    re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"),
)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(.*?)[ \t#]*$", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*[-*+•][ \t]+(?:\[[ xX]\][ \t]+)?", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*([-*_=])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_TABLE_RULE = re.compile(
    r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$\n?", re.M
)
_SENTENCE_END = re.compile(r"(?<=[.!?…\u3002\uff01\uff1f])\s+")


def speakable(markdown: str) -> str:
    """The answer as plain text to be read aloud: no Markdown marks, code blocks and
    formulas named instead of read, links by their text, paragraphs kept apart."""
    code, formula, link = _("(a code block)"), _("(a formula)"), _("(a link)")
    text = markdown.replace("\r\n", "\n")
    text = _FENCE.sub(f"\n{code}\n", text)
    text = _MATH_BLOCK.sub(formula, text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub(link, text)
    text = _TAG.sub("", text)
    text = _INLINE_CODE.sub(r"\1", text)
    for pattern in _EMPHASIS:
        text = pattern.sub(lambda m: m.group(m.lastindex or 0), text)
    text = _HEADING.sub(r"\1.", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _RULE.sub("", text)
    lines = []
    for line in text.split("\n"):
        if line.count("|") >= 2:  # a table row: its cells in a row, comma-separated
            line = ", ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        lines.append(" ".join(line.replace("$", " ").split()))
    paragraphs = re.split(r"\n{2,}", "\n".join(lines))
    return "\n\n".join(p.strip() for p in paragraphs if p.strip(" .\n"))


def split_speech(text: str, limit: int = SPEECH_PART_CHARS) -> list[str]:
    """`text` in parts of at most `limit` characters, in order, cut at paragraph
    breaks where possible, else between sentences, else between words."""
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        joined = f"{current}{_glue(current, piece)}{piece}" if current else piece
        if len(joined) <= limit:
            current = joined
            continue
        parts.append(current)
        current = piece
    if current:
        parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def speech_parts(markdown: str, limit: int = SPEECH_PART_CHARS) -> list[str]:
    """An answer as the parts to speak (none when nothing in it is speakable)."""
    return split_speech(speakable(markdown), limit)


def _glue(before: str, piece: str) -> str:
    return "" if piece.startswith("\n\n") or not before else " "


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs (each after the first marked by a leading blank line), and those over
    `limit` as sentences, and sentences over it as words (a word over it, cut)."""
    pieces: list[str] = []
    for index, paragraph in enumerate(p for p in text.split("\n\n") if p.strip()):
        lead = "\n\n" if index else ""
        if len(paragraph) + len(lead) <= limit:
            pieces.append(lead + paragraph)
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            if len(sentence) <= limit:
                pieces.append(sentence)
                continue
            for word in sentence.split():
                pieces.extend(word[i : i + limit] for i in range(0, len(word), limit))
    return pieces
