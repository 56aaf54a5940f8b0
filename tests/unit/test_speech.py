"""An answer made speakable (Markdown out) and cut into parts a speech API takes."""

from __future__ import annotations

import pytest

from ai_tg_bot.media.speakable import SPEECH_PART_CHARS, speakable, speech_parts, split_speech
from ai_tg_bot.storage.outputs import speech_tokens


def test_markdown_marks_are_not_read_aloud() -> None:
    markdown = (
        "# Title\n\n"
        "Some **bold**, *italic*, _under_ and ~~struck~~ text with `code`.\n\n"
        "- one\n* two\n1. first\n\n"
        "> quoted\n\n"
        "A [link text](https://example.com/a) and ![alt](https://example.com/i.png)."
    )
    assert speakable(markdown) == (
        "Title.\n\n"
        "Some bold, italic, under and struck text with code.\n\n"
        "one\ntwo\n1. first\n\n"
        "quoted\n\n"
        "A link text and alt."
    )


def test_code_blocks_formulas_and_bare_links_are_named_not_read() -> None:
    markdown = "Run this:\n\n```python\nprint('hi')\n```\n\n$$x^2$$ see https://example.com/a."
    assert speakable(markdown) == "Run this:\n\n(a code block)\n\n(a formula) see (a link)."


def test_an_unclosed_code_block_is_left_out_to_the_end() -> None:
    assert speakable("Before.\n\n```\ncode that never ends") == "Before.\n\n(a code block)"


def test_tables_are_read_row_by_row_and_rules_dropped() -> None:
    markdown = "| a | b |\n|---|:-:|\n| 1 | 2 |\n\n---\n\nEnd."
    assert speakable(markdown) == "a, b\n1, 2\n\nEnd."


def test_words_with_underscores_and_products_stay() -> None:
    assert speakable("snake_case_name and 2*3*4") == "snake_case_name and 2*3*4"


def test_nothing_speakable_gives_no_parts() -> None:
    assert speech_parts("  \n\n ---  \n") == []


def test_a_short_answer_is_one_part() -> None:
    assert speech_parts("**Hello** there.") == ["Hello there."]


def test_parts_are_cut_at_paragraphs_first() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 50 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_speech(text, 700)
    assert all(len(part) <= 700 for part in parts)
    assert "\n\n".join(parts) == text, "nothing lost, nothing reordered"
    assert all(part.startswith("Paragraph") for part in parts)


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    sentence = "This is one sentence of the answer. "
    text = (sentence * 100).strip()
    parts = split_speech(text, 500)
    assert all(len(part) <= 500 for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == text


def test_a_long_word_is_cut_where_it_must_be() -> None:
    parts = split_speech("a" * 2500, 1000)
    assert [len(part) for part in parts] == [1000, 1000, 500]


@pytest.mark.parametrize("size", [1, 4_000, 4_001, 12_345])
def test_every_part_fits_the_speech_api(size: int) -> None:
    text = ("Short sentence. " * (size // 16 + 1))[:size]
    parts = speech_parts(text)
    assert all(0 < len(part) <= SPEECH_PART_CHARS for part in parts)
    assert sum(len(part) for part in parts) >= len(text.strip()) - len(parts)


def test_speech_is_priced_at_a_token_per_four_characters_rounded_up() -> None:
    assert [speech_tokens(n) for n in (0, 1, 4, 5, 4000)] == [0, 1, 1, 2, 1000]
