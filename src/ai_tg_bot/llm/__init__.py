"""The OpenAI-compatible client: chat streams with a deadline, errors mapped to kinds,
the one meter (every request that left counted, whatever its ending), the wire format,
and the other endpoints (transcriptions, images, speech).
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.llm.client import ChatMessages as ChatMessages
    from ai_tg_bot.llm.client import LLMClient as LLMClient
    from ai_tg_bot.llm.errors import LLMError as LLMError
    from ai_tg_bot.llm.errors import LLMErrorKind as LLMErrorKind
    from ai_tg_bot.llm.meter import StreamReport as StreamReport
    from ai_tg_bot.llm.meter import text_chars as text_chars
    from ai_tg_bot.llm.wire import GeneratedImage as GeneratedImage
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "ChatMessages": ".client",
            "GeneratedImage": ".wire",
            "LLMClient": ".client",
            "LLMError": ".errors",
            "LLMErrorKind": ".errors",
            "StreamReport": ".meter",
            "text_chars": ".meter",
        },
    )

__all__ = [
    "ChatMessages",
    "GeneratedImage",
    "LLMClient",
    "LLMError",
    "LLMErrorKind",
    "StreamReport",
    "text_chars",
]
