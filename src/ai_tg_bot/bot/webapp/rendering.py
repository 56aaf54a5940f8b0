"""A stored message as safe HTML for the Mini App's reader.

Stored text is never trusted as HTML: an answer's Markdown goes through the same
renderer as the chat (bot.formatting: plain text and entities), and the entities back
to HTML with every piece of text escaped. Only formatting survives (bold, italic, code,
quotes, spoilers, links to http, https, tg and mailto), and every attribute is escaped:
aiogram's HTML decoration writes attributes as given. A user's own message is their
plain text, escaped. Newlines stay newlines (the page shows them as such).
"""

from __future__ import annotations

import html
import re

from aiogram.enums import MessageEntityType
from aiogram.types import MessageEntity
from aiogram.utils.text_decorations import HtmlDecoration

from ai_tg_bot.bot.formatting import render_markdown

_KEPT = frozenset(
    {
        MessageEntityType.BOLD,
        MessageEntityType.ITALIC,
        MessageEntityType.UNDERLINE,
        MessageEntityType.STRIKETHROUGH,
        MessageEntityType.SPOILER,
        MessageEntityType.CODE,
        MessageEntityType.PRE,
        MessageEntityType.BLOCKQUOTE,
        MessageEntityType.EXPANDABLE_BLOCKQUOTE,
        MessageEntityType.TEXT_LINK,
    }
)
_LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")
_LANGUAGE = re.compile(r"[\w+#.-]{1,32}")


class _SafeHtml(HtmlDecoration):
    """aiogram's HTML decoration with its attributes escaped; code blocks carry their
    language as a `language-x` class."""

    def _tag(
        self,
        tag: str,
        content: str,
        *,
        attrs: dict[str, str] | None = None,
        flags: list[str] | None = None,
    ) -> str:
        escaped = {key: html.escape(value, quote=True) for key, value in (attrs or {}).items()}
        return super()._tag(tag, content, attrs=escaped, flags=flags)

    def pre_language(self, value: str, language: str) -> str:
        code = self._tag(self.CODE_TAG, value, attrs={"class": f"language-{language}"})
        return self._tag(self.PRE_TAG, code)


_DECORATION = _SafeHtml()


def _safe(entity: MessageEntity) -> MessageEntity | None:
    """The entity if it is formatting the page may show (a code block's odd language
    dropped), else None (its text stays, as text)."""
    if entity.type not in _KEPT:
        return None
    if entity.type == MessageEntityType.TEXT_LINK:
        url = (entity.url or "").strip()
        return entity if url.lower().startswith(_LINK_SCHEMES) else None
    odd = entity.language and not _LANGUAGE.fullmatch(entity.language)
    if entity.type == MessageEntityType.PRE and odd:
        return entity.model_copy(update={"language": None})
    return entity


def entities_html(text: str, entities: list[MessageEntity]) -> str:
    """Plain text and its entities as safe HTML (only the formatting kept)."""
    kept = [safe for entity in entities if (safe := _safe(entity)) is not None]
    return _DECORATION.unparse(text, kept)


def markdown_html(markdown: str) -> str:
    """An answer's Markdown as safe HTML."""
    return entities_html(*render_markdown(markdown))


def message_html(role: str, content: str) -> str:
    """A stored message as safe HTML: the model's answers rendered from Markdown, anything
    else (the user's own words) as plain text."""
    if role == "assistant":
        return markdown_html(content)
    return html.escape(content, quote=False)
