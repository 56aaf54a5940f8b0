"""Rich messages are split only past Telegram's limits, at block boundaries, with code
blocks, tables and formulas whole."""

from __future__ import annotations

from ai_tg_bot.bot.rich import RICH_MESSAGE_BLOCKS, RICH_MESSAGE_CHARS, closed, rich_parts
from tests.fakes.telegram import count_rich_blocks

CODE = "```python\n" + "\n".join(f"print({n})" for n in range(400)) + "\n```"
TABLE = "| a | b |\n| --- | --- |\n" + "\n".join(f"| {n} | {n * n} |" for n in range(300))
FORMULA = "$$\n" + " + ".join(f"x_{{{n}}}" for n in range(500)) + "\n$$"


def words(size: int, label: str) -> str:
    return (f"{label} " + "lorem ipsum dolor sit amet " * (size // 27))[:size].strip()


def test_an_answer_within_the_limits_is_one_message_as_written() -> None:
    answer = "# Title\n\n" + TABLE + "\n\n" + words(20_000, "text")
    assert rich_parts(answer) == [answer]


def test_a_long_answer_splits_between_blocks_and_keeps_code_tables_formulas_whole() -> None:
    pieces = [words(9_000, "one"), CODE, words(9_000, "two"), TABLE, words(9_000, "three")]
    pieces += [FORMULA, words(9_000, "four")]
    answer = "\n\n".join(pieces)
    assert len(answer) > RICH_MESSAGE_CHARS
    parts = rich_parts(answer)
    assert len(parts) >= 2
    for part in parts:
        assert len(part) <= RICH_MESSAGE_CHARS
        assert count_rich_blocks(part) <= RICH_MESSAGE_BLOCKS
        assert part.count("```") % 2 == 0, "a code block is never cut"
        assert part.count("$$") % 2 == 0, "a formula is never cut"
    for whole in (CODE, TABLE, FORMULA):
        assert sum(whole in part for part in parts) == 1
    assert "\n\n".join(parts) == answer, "nothing lost, nothing added"


def test_more_than_500_blocks_split_even_when_short() -> None:
    answer = "\n".join(f"- item {n}" for n in range(1_200))
    assert len(answer) < RICH_MESSAGE_CHARS
    parts = rich_parts(answer)
    assert len(parts) == 3
    assert all(count_rich_blocks(part) <= RICH_MESSAGE_BLOCKS for part in parts)
    assert "\n".join(parts) == answer


def test_a_code_block_or_formula_left_open_is_closed() -> None:
    cut = "Here:\n\n```python\nprint(1)\nprint("
    assert closed(cut) == cut + "\n```"
    assert rich_parts(cut) == [cut + "\n```"]
    assert closed("$$\nx^2") == "$$\nx^2\n$$"
    whole = "```\ncode\n```\n\ntext"
    assert closed(whole) == whole
