"""Tests for Markdown rendering and message splitting."""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from itertools import accumulate

import pytest
from aiogram.types import MessageEntity
from hypothesis import given, settings
from hypothesis import strategies as st
from telegramify_markdown import utf16_len

from ai_tg_bot.bot import formatting
from ai_tg_bot.bot.formatting import (
    TELEGRAM_MESSAGE_LIMIT,
    Chunk,
    format_reply,
    plain_chunks,
    render_markdown,
    split_formatted,
    split_plain,
    utf16_length,
)

# Pieces that stress UTF-16 counting and boundaries: astral emoji, ZWJ sequences, flags, skin
# tones, CJK, combining marks, RTL text and marks, CRLF, and long runs without spaces.
PIECES = [
    "a",
    "word",
    "Hello, world.",
    " ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    "😀",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "🇺🇸🇩🇪",
    "❤\ufe0f",
    "𐍈",
    "中文字符",
    "漢字かなカナ",
    "e\u0301",
    "\u0301\u0302",
    "שלום עולם",
    "مرحبا",
    "\u200f",
    "x" * 40,
    "😀" * 12,
    "\u3000",
]
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=60).map("".join)
limits = st.integers(min_value=2, max_value=200)

EntityKey = tuple[str, str | None, str | None]


def _units(text: str) -> list[int]:
    """UTF-16 offset of every string index, plus the total."""
    return [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]


def _longest_whitespace_run(text: str) -> int:
    """UTF-16 length of the longest run of whitespace in text."""
    return max((utf16_length(m.group()) for m in re.finditer(r"\s+", text)), default=0)


def _check_parts(text: str, parts: list[str], limit: int) -> None:
    """Properties every split must have."""
    assert "".join(parts) == text
    assert all(parts), "no empty parts"
    assert all(utf16_length(part) <= limit for part in parts)
    # Telegram rejects whitespace-only messages. The splitter never picks a boundary that leaves
    # one and folds them into a neighbour with room; what remains comes from whitespace runs
    # about half the limit long or longer, which no split of that window can avoid.
    for i, part in enumerate(parts):
        if part.isspace() and len(parts) > 1:
            assert _longest_whitespace_run(text) >= (limit - 1) // 2
            for neighbour in parts[max(i - 1, 0) : i] + parts[i + 1 : i + 2]:
                assert utf16_length(part) + utf16_length(neighbour) > limit


def _coverage(entities: list[MessageEntity], base: int = 0) -> defaultdict[EntityKey, set[int]]:
    """The UTF-16 units covered by each kind of entity, shifted by base."""
    covered: defaultdict[EntityKey, set[int]] = defaultdict(set)
    for e in entities:
        covered[e.type, e.language, e.url].update(
            range(base + e.offset, base + e.offset + e.length)
        )
    return covered


def _check_chunks(
    text: str, entities: list[MessageEntity], chunks: list[Chunk], limit: int
) -> None:
    """Properties every formatted split must have."""
    _check_parts(text, [c.text for c in chunks], limit)
    merged: defaultdict[EntityKey, set[int]] = defaultdict(set)
    base = 0
    for chunk in chunks:
        size = utf16_length(chunk.text)
        assert len(chunk.entities) <= 100
        for e in chunk.entities:
            assert e.length > 0
            assert e.offset >= 0
            assert e.offset + e.length <= size
        for key, units in _coverage(chunk.entities, base).items():
            merged[key] |= units
        base += size
    if len(entities) <= 100:
        assert merged == _coverage(entities)


def _random_entities(data: st.DataObject, text: str) -> list[MessageEntity]:
    """Entities on character boundaries of text, some of them overlapping code blocks."""
    if not text:
        return []
    units = _units(text)
    entities = []
    for _ in range(data.draw(st.integers(0, 12))):
        start = data.draw(st.integers(0, len(text) - 1))
        end = data.draw(st.integers(start + 1, len(text)))
        kind = data.draw(st.sampled_from(["bold", "italic", "code", "pre", "text_link"]))
        entities.append(
            MessageEntity(
                type=kind,
                offset=units[start],
                length=units[end] - units[start],
                language=data.draw(st.sampled_from([None, "python"])) if kind == "pre" else None,
                url="https://example.com/" if kind == "text_link" else None,
            )
        )
    return entities


def _random_text(rng: random.Random, size: int) -> str:
    """A long text of random pieces, mostly words, so that boundaries are plentiful."""
    words = ["lorem", "ipsum", "dolor", "😀", "中文", "שלום", "e\u0301te", "👍🏽"]
    out: list[str] = []
    while sum(map(len, out)) < size:
        out.append(rng.choice(PIECES) if rng.random() < 0.2 else rng.choice(words) + " ")
    return "".join(out)


# --- rendering ----------------------------------------------------------------------------


def _types(entities: list[MessageEntity]) -> set[str]:
    return {e.type for e in entities}


def _covered_text(text: str, entities: list[MessageEntity], kind: str) -> list[str]:
    return [e.extract_from(text) for e in entities if e.type == kind]


def test_inline_styles_become_entities() -> None:
    text, entities = render_markdown("**bold** and *italic* and `code` and ~~gone~~")
    assert text == "bold and italic and code and gone"
    assert _covered_text(text, entities, "bold") == ["bold"]
    assert _covered_text(text, entities, "italic") == ["italic"]
    assert _covered_text(text, entities, "code") == ["code"]
    assert _covered_text(text, entities, "strikethrough") == ["gone"]
    assert "*" not in text
    assert "`" not in text


def test_code_block_keeps_its_language() -> None:
    text, entities = render_markdown("Run this:\n\n```python\nprint('hi')\n```\n")
    assert "`" not in text
    (pre,) = [e for e in entities if e.type == "pre"]
    assert pre.language == "python"
    assert pre.extract_from(text) == "print('hi')"


def test_link_becomes_text_link() -> None:
    text, entities = render_markdown("See [the docs](https://example.com/docs).")
    assert text == "See the docs."
    (link,) = entities
    assert link.type == "text_link"
    assert link.url == "https://example.com/docs"
    assert link.extract_from(text) == "the docs"


def test_heading_is_bold_without_hashes() -> None:
    text, entities = render_markdown("# Title\n\nBody text.")
    assert "#" not in text
    assert "Title" in _covered_text(text, entities, "bold")
    assert text.endswith("\n\nBody text.")


def test_lists_are_plain_text_without_markers() -> None:
    text, entities = render_markdown("- first **one**\n- second\n\n1. alpha\n2. beta")
    assert "**" not in text
    assert "- " not in text
    assert "1. alpha" in text
    assert "2. beta" in text
    assert _covered_text(text, entities, "bold") == ["one"]


def test_blockquote_and_unchecked_task() -> None:
    text, entities = render_markdown("> quoted\n\n- [ ] todo\n- [x] done")
    assert _covered_text(text, entities, "blockquote") == ["quoted"]
    assert "\N{BALLOT BOX} todo" in text
    assert "\N{WHITE HEAVY CHECK MARK} done" in text


def test_offsets_are_utf16_after_astral_characters() -> None:
    text, entities = render_markdown("😀😀 **bold**")
    (bold,) = entities
    assert bold.offset == 5
    assert bold.extract_from(text) == "bold"


def test_render_falls_back_to_raw_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(formatting, "convert", explode)
    with caplog.at_level(logging.DEBUG, logger=formatting.__name__):
        assert render_markdown("**raw**") == ("**raw**", [])
    assert "falling back" in caplog.text


def test_lone_surrogates_are_replaced() -> None:
    text, _ = render_markdown("a \ud800 **b**")
    assert text == "a \ufffd b"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["*", "**", "_", "[", "](", ")", "`", "```", "```py\n", "||", "\\"]),
            st.sampled_from(["#", "> ", "- ", "1. ", "|", "<b>", "</", "\x00", "\n", "\\(x\\)"]),
            st.text(st.characters(exclude_categories=()), max_size=5),
        ),
        max_size=40,
    ).map("".join)
)
def test_render_never_raises_and_entities_are_valid(markdown: str) -> None:
    text, entities = render_markdown(markdown)
    size = utf16_length(text)
    for e in entities:
        assert e.length > 0
        assert e.offset >= 0
        assert e.offset + e.length <= size


# --- utf16_length and split_plain ----------------------------------------------------------


@given(texts)
def test_utf16_length_matches_encoding(text: str) -> None:
    assert utf16_length(text) == len(text.encode("utf-16-le")) // 2 == utf16_len(text)


def test_split_plain_edge_cases() -> None:
    assert split_plain("") == []
    assert split_plain("short") == ["short"]
    with pytest.raises(ValueError, match="limit"):
        split_plain("abc", 1)


def test_split_plain_prefers_paragraph_then_line_then_space() -> None:
    para = "a" * 60 + "\n\n" + "b" * 30 + "\n" + "c" * 5 + " " + "d" * 50
    assert split_plain(para, 100)[0] == "a" * 60 + "\n\n"
    # A paragraph break in the first half would make a small part; the later line break wins.
    line = "a" * 10 + "\n\n" + "b" * 60 + "\n" + "c" * 20 + " " + "d" * 50
    assert split_plain(line, 100)[0] == "a" * 10 + "\n\n" + "b" * 60 + "\n"
    space = "lorem ipsum " * 20
    assert all(part.endswith(" ") for part in split_plain(space, 50))


def test_split_plain_hard_cuts_only_without_whitespace() -> None:
    assert split_plain("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    # Even an early boundary beats cutting a word in two.
    assert split_plain("a" * 10 + "\n\n" + "b" * 50, 40)[0] == "a" * 10 + "\n\n"


def test_split_plain_keeps_characters_whole() -> None:
    assert split_plain("😀" * 10, 5) == ["😀😀"] * 5
    assert split_plain("e\u0301" * 10, 3) == ["e\u0301"] * 10
    assert split_plain("👍🏽" * 4, 5) == ["👍🏽"] * 4
    assert split_plain("🇺🇸" * 4, 6) == ["🇺🇸"] * 4


def test_whitespace_only_parts_are_avoided() -> None:
    assert split_plain("abc def\n   ", 8) == ["abc ", "def\n   "]
    assert split_plain("   \n\n" + "x" * 20, 10) == ["   \n\nxxxxx", "x" * 10, "x" * 5]
    # Unavoidable: any 4-unit piece of the middle of the run is blank.
    assert split_plain("a" + " " * 10 + "b", 4) == ["a   ", "    ", "   b"]
    assert plain_chunks("a" + " " * 10 + "b", 4) == [Chunk("a   ", []), Chunk("   b", [])]


@settings(max_examples=400, deadline=None)
@given(texts, limits)
def test_split_plain_properties(text: str, limit: int) -> None:
    _check_parts(text, split_plain(text, limit), limit)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32), st.integers(10_000, 20_000))
def test_split_plain_real_limit(seed: int, size: int) -> None:
    rng = random.Random(seed)
    text = _random_text(rng, size)
    parts = split_plain(text)
    _check_parts(text, parts, TELEGRAM_MESSAGE_LIMIT)
    # Boundaries are plentiful here, so no part is needlessly small or cut mid-word.
    for part in parts[:-1]:
        assert utf16_length(part) >= TELEGRAM_MESSAGE_LIMIT // 2
        assert part[-1].isspace()


def test_ten_thousand_chars_split_on_paragraphs() -> None:
    paragraph = ("word " * 100)[:498]
    markdown = "\n\n".join([paragraph] * 20)
    assert len(markdown) == 9998
    chunks = format_reply(markdown)
    assert len(chunks) == 3
    assert "".join(c.text for c in chunks) == markdown
    assert all(utf16_length(c.text) <= TELEGRAM_MESSAGE_LIMIT for c in chunks)
    assert all(c.text.endswith(paragraph + "\n\n") for c in chunks[:-1])


# --- split_formatted and format_reply ------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.data(), texts, limits)
def test_split_formatted_properties(data: st.DataObject, text: str, limit: int) -> None:
    entities = _random_entities(data, text)
    _check_chunks(text, entities, split_formatted(text, entities, limit), limit)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32), st.integers(10_000, 20_000))
def test_format_reply_real_limit(seed: int, size: int) -> None:
    rng = random.Random(seed)
    blocks: list[str] = []
    while sum(map(len, blocks)) < size:
        roll = rng.random()
        if roll < 0.2:
            code = "\n".join(
                f"    value_{i} = compute({i})  # 😀" for i in range(rng.randint(1, 200))
            )
            blocks.append(f"```python\n{code}\n```")
        elif roll < 0.4:
            blocks.append("\n".join(f"- item **{i}** `x`" for i in range(rng.randint(1, 20))))
        else:
            blocks.append(f"Some *prose* with [a link](https://example.com/{roll}). " * 5)
    markdown = "\n\n".join(blocks)
    text, entities = render_markdown(markdown)
    chunks = split_formatted(text, entities)
    _check_chunks(text, entities, chunks, TELEGRAM_MESSAGE_LIMIT)
    assert format_reply(markdown) == chunks


def test_long_code_block_stays_code_in_every_part() -> None:
    code = "\n".join(f"result_{i} = transform(data[{i}])" for i in range(200))
    assert len(code) > 6000
    chunks = format_reply(f"Here you go:\n\n```python\n{code}\n```\n\nDone.")
    assert len(chunks) >= 2
    for chunk in chunks:
        pres = [e for e in chunk.entities if e.type == "pre"]
        assert [e.language for e in pres] == ["python"]
    for chunk in chunks[:-1]:
        assert chunk.text.endswith("\n"), "code is cut between lines"
    assert chunks[0].text.startswith("Here you go:")


def test_code_block_that_fits_is_not_cut() -> None:
    code = "\n".join(f"line {i}" for i in range(10))
    text = "intro " * 10 + "\n\n" + code + "\n\nouter text"
    start = text.index(code)
    entities = [MessageEntity(type="pre", offset=start, length=len(code), language="sh")]
    chunks = split_formatted(text, entities, 100)
    assert chunks[1].text.startswith(code)
    assert chunks[1].entities[0] == MessageEntity(
        type="pre", offset=0, length=len(code), language="sh"
    )


def test_entities_are_rebased_and_clipped() -> None:
    text = "aaaa bbbb cccc"
    entities = [MessageEntity(type="bold", offset=2, length=10)]
    chunks = split_formatted(text, entities, 5)
    assert [c.text for c in chunks] == ["aaaa ", "bbbb ", "cccc"]
    assert [[(e.offset, e.length) for e in c.entities] for c in chunks] == [
        [(2, 3)],
        [(0, 5)],
        [(0, 2)],
    ]


def test_at_most_100_entities_per_chunk() -> None:
    chunks = format_reply("**b** " * 300)
    assert len(chunks) == 1
    assert len(chunks[0].entities) == 100
    assert chunks[0].entities[0].offset == 0


def test_format_reply_and_plain_chunks_skip_blank_input() -> None:
    assert format_reply("") == []
    assert format_reply("  \n\t ") == []
    assert format_reply("```\n```") == []
    assert plain_chunks("") == []
    assert plain_chunks(" \n ") == []
    assert plain_chunks("hello world", 6) == [Chunk("hello ", []), Chunk("world", [])]


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("Press <Enter> if a<b and c>d", "Press <Enter> if a<b and c>d"),
        ("x <script>alert(1)</script> **bold**", "x <script>alert(1)</script> bold"),
        ("Use the `<br>` tag", "Use the <br> tag"),
        ("```html\n<div>hi</div>\n```\nthen <b>", "<div>hi</div>\nthen <b>"),
        ("already \\<escaped> and 2 < 3", "already <escaped> and 2 < 3"),
        ("see <https://example.com>", "see https://example.com"),
    ],
)
def test_angle_brackets_are_shown_as_written(markdown: str, shown: str) -> None:
    """A "<word ...>" is not HTML to drop: the words stay (code and autolinks as before)."""
    assert render_markdown(markdown)[0] == shown
