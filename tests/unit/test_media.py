"""What the LLM is sent for photos: image parts, stand-ins, and fetch failures."""

from __future__ import annotations

import base64

import pytest

from ai_tg_bot.llm.client import LLMError, LLMErrorKind
from ai_tg_bot.media.inputs import (
    FileTooLargeError,
    MediaPolicy,
    image_attachment,
    llm_messages,
    text_chars,
)
from ai_tg_bot.storage.records import Context

OLD, NEW = image_attachment("old", "u-old", 3, 90, 90), image_attachment("new", "u-new", 3, 90, 90)
CONTEXT = Context(
    system_prompt="be brief",
    history=[
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": ""},
    ],
    model="seeing",
    attachments={0: [OLD], 2: [NEW]},
)
SEEING = MediaPolicy(vision_models=frozenset({"seeing"}))


class Files:
    """A FileFetcher over a dict; missing ids and over-size files fail like Telegram's."""

    def __init__(self, **files: bytes) -> None:
        self.files = files
        self.fetched: list[str] = []

    async def __call__(self, file_id: str, *, max_bytes: int) -> bytes:
        self.fetched.append(file_id)
        if file_id not in self.files:
            raise FileTooLargeError(file_id)
        return self.files[file_id]


def part(data: bytes) -> dict[str, object]:
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": url}}


async def test_only_the_question_image_is_sent_by_default() -> None:
    files = Files(old=b"OLD", new=b"NEW")
    messages = await llm_messages(CONTEXT, SEEING, files)
    contents = [m["content"] for m in messages]
    assert contents == ["be brief", "[photo] first", "a cat", [part(b"NEW")]]
    assert files.fetched == ["new"]
    assert text_chars(messages) == len("be brief[photo] firsta cat")


async def test_a_blind_model_or_no_fetcher_gets_stand_ins_only() -> None:
    for policy, fetch in [(MediaPolicy(), Files(new=b"NEW")), (SEEING, None)]:
        messages = await llm_messages(CONTEXT, policy, fetch)
        assert messages[-1]["content"] == "[photo]"
        assert messages[1]["content"] == "[photo] first"


async def test_resend_falls_back_to_the_stand_in_for_an_old_image_that_is_gone() -> None:
    policy = MediaPolicy(vision_models=frozenset({"seeing"}), resend_images=True)
    messages = await llm_messages(CONTEXT, policy, Files(new=b"NEW"))
    assert messages[1]["content"] == "[photo] first"
    assert messages[-1]["content"] == [part(b"NEW")]
    both = await llm_messages(CONTEXT, policy, Files(old=b"OLD", new=b"NEW"))
    assert both[1]["content"] == [{"type": "text", "text": "first"}, part(b"OLD")]


async def test_the_question_image_that_cannot_be_fetched_fails_the_turn() -> None:
    with pytest.raises(LLMError) as error:
        await llm_messages(CONTEXT, SEEING, Files(old=b"OLD"))
    assert error.value.kind is LLMErrorKind.ATTACHMENT
