"""The Mini App's messages as HTML: formatting survives, nothing else does (no markup,
script, attribute or link scheme from stored text reaches the page)."""

from __future__ import annotations

from typing import Any

from aiogram.types import MessageEntity

from ai_tg_bot.bot.webapp.rendering import entities_html, markdown_html, message_html


def entity(kind: str, offset: int, length: int, **fields: Any) -> MessageEntity:
    return MessageEntity(type=kind, offset=offset, length=length, **fields)


def test_an_answers_markdown_becomes_its_formatting() -> None:
    html = markdown_html("**bold**, _italic_, `code` and [a link](https://example.com/?a=1&b=2)")
    assert "<b>bold</b>" in html
    assert "<i>italic</i>" in html
    assert "<code>code</code>" in html
    assert '<a href="https://example.com/?a=1&amp;b=2">a link</a>' in html
    block = markdown_html("```python\nprint('<hi>')\n```")
    assert block == "<pre><code class=\"language-python\">print('&lt;hi&gt;')</code></pre>"


def test_markup_in_stored_text_is_text() -> None:
    assert message_html("user", "<b>hi</b> & **x**") == "&lt;b&gt;hi&lt;/b&gt; &amp; **x**"
    answer = message_html("assistant", 'a <img src=x onerror="alert(1)"> b <script>c</script>')
    assert "<img" not in answer
    assert "<script" not in answer


def test_links_attributes_and_languages_cannot_carry_code() -> None:
    text = "one two three four"
    entities = [
        entity("text_link", 0, 3, url="javascript:alert(1)"),
        entity("text_link", 4, 3, url='https://x.test/" onmouseover="alert(1)'),
        entity("pre", 8, 5, language='py" onclick="alert(1)'),
        entity("custom_emoji", 14, 4, custom_emoji_id='1" onload="x'),
    ]
    html = entities_html(text, entities)
    assert html == (
        'one <a href="https://x.test/&quot; onmouseover=&quot;alert(1)">two</a> '
        "<pre>three</pre> four"
    )
    mention = [entity("text_link", 0, 3, url="data:text/html,<script>alert(1)</script>")]
    assert entities_html("one", mention) == "one"


def test_angle_brackets_in_an_answer_are_shown_escaped_not_dropped() -> None:
    html = markdown_html("Hello <script>alert(1)</script> and **bold**")
    assert html == "Hello &lt;script&gt;alert(1)&lt;/script&gt; and <b>bold</b>"
