"""Non-text content in and out: photos and voice sent to the model, documents (read in
a bounded child process: `extraction`), and answers made speakable.
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.media.documents import display_name as display_name
    from ai_tg_bot.media.documents import document_attachment as document_attachment
    from ai_tg_bot.media.documents import document_content as document_content
    from ai_tg_bot.media.documents import document_format as document_format
    from ai_tg_bot.media.documents import read_document as read_document
    from ai_tg_bot.media.extraction import DocumentError as DocumentError
    from ai_tg_bot.media.extraction import DocumentProblem as DocumentProblem
    from ai_tg_bot.media.extraction import Extracted as Extracted
    from ai_tg_bot.media.inputs import IMAGE_MIME as IMAGE_MIME
    from ai_tg_bot.media.inputs import FileFetcher as FileFetcher
    from ai_tg_bot.media.inputs import FileTooLargeError as FileTooLargeError
    from ai_tg_bot.media.inputs import MediaError as MediaError
    from ai_tg_bot.media.inputs import MediaPolicy as MediaPolicy
    from ai_tg_bot.media.inputs import image_attachment as image_attachment
    from ai_tg_bot.media.inputs import llm_messages as llm_messages
    from ai_tg_bot.media.inputs import text_chars as text_chars
    from ai_tg_bot.media.inputs import transcribe_voice as transcribe_voice
    from ai_tg_bot.media.inputs import voice_attachment as voice_attachment
    from ai_tg_bot.media.outputs import PaidCall as PaidCall
    from ai_tg_bot.media.speakable import speech_parts as speech_parts
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "PaidCall": ".outputs",
            "DocumentError": ".extraction",
            "DocumentProblem": ".extraction",
            "Extracted": ".extraction",
            "FileFetcher": ".inputs",
            "FileTooLargeError": ".inputs",
            "IMAGE_MIME": ".inputs",
            "MediaError": ".inputs",
            "MediaPolicy": ".inputs",
            "display_name": ".documents",
            "document_attachment": ".documents",
            "document_content": ".documents",
            "document_format": ".documents",
            "image_attachment": ".inputs",
            "llm_messages": ".inputs",
            "read_document": ".documents",
            "speech_parts": ".speakable",
            "text_chars": ".inputs",
            "transcribe_voice": ".inputs",
            "voice_attachment": ".inputs",
        },
    )

__all__ = [
    "IMAGE_MIME",
    "DocumentError",
    "DocumentProblem",
    "Extracted",
    "FileFetcher",
    "FileTooLargeError",
    "MediaError",
    "MediaPolicy",
    "PaidCall",
    "display_name",
    "document_attachment",
    "document_content",
    "document_format",
    "image_attachment",
    "llm_messages",
    "read_document",
    "speech_parts",
    "text_chars",
    "transcribe_voice",
    "voice_attachment",
]
