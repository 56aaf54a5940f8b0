"""Bounded answers: LLM_MAX_TOKENS goes with every chat request, in the field the server takes.

The real bot talks to the loopback LLM, which refuses a limit field the way OpenAI's
reasoning models refuse `max_tokens` (same status, text, param and code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from ai_tg_bot.bot import texts
from ai_tg_bot.llm.client import LLMError, LLMErrorKind
from tests.e2e.conftest import HarnessFactory
from tests.fakes.llm import FakeLLM

USER = 4242
REFUSED = LLMError(LLMErrorKind.REJECTED).user_message


def limits_sent(llm: FakeLLM, start: int = 0) -> list[dict[str, int]]:
    """The limit fields of each chat request from `start` on."""
    names = ("max_tokens", "max_completion_tokens")
    return [{n: r[n] for n in names if n in r} for r in llm.requests[start:]]


async def test_every_chat_request_carries_the_limit(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_max_tokens=300)
    assert await bot.say(USER, "hello") == ["Echo: hello"]
    assert await bot.say(USER, "again") == ["Echo: again"]
    # Not OpenAI's host: the field every OpenAI-compatible server knows.
    assert limits_sent(bot.llm) == [{"max_tokens": 300}, {"max_tokens": 300}]
    assert bot.llm.last_request["messages"][-1] == {"role": "user", "content": "again"}


async def test_a_long_answer_ends_at_the_limit(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_max_tokens=5)
    bot.llm.queue_reply("word " * 500)
    reply, note = await bot.say(USER, "talk forever")
    assert reply == ("word " * 4).strip(), "the server stopped at 5 tokens (20 characters)"
    assert note == texts.ANSWER_AT_LIMIT, "the user is told the answer was cut at the limit"


async def test_zero_sends_no_limit(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_max_tokens=0)
    assert await bot.say(USER, "hello") == ["Echo: hello"]
    assert limits_sent(bot.llm) == [{}]


async def test_a_refused_field_is_switched_once_and_remembered(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_max_tokens=256)
    bot.llm.reject_param("max_tokens")
    assert await bot.say(USER, "first") == ["Echo: first"]
    # Refused, then the same request again with the other field: the user saw nothing.
    assert limits_sent(bot.llm) == [{"max_tokens": 256}, {"max_completion_tokens": 256}]
    assert bot.llm.requests[0]["messages"] == bot.llm.requests[1]["messages"]

    assert await bot.say(USER, "second") == ["Echo: second"]
    assert await bot.say(USER, "third") == ["Echo: third"]
    # Remembered for the process: one request per turn from now on.
    assert limits_sent(bot.llm, 2) == [{"max_completion_tokens": 256}] * 2


async def test_the_other_way_round_too(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_max_tokens_param="auto")
    bot.llm.reject_param("max_completion_tokens")
    bot.llm.reject_param("max_tokens")
    # Both refused: one retry only, then the user is told; nothing loops.
    assert await bot.say(USER, "hello") == [REFUSED]
    assert len(bot.llm.requests) == 2


async def test_a_configured_field_is_never_switched(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_max_tokens_param="max_tokens", llm_max_tokens=100)
    bot.llm.reject_param("max_tokens")
    assert await bot.say(USER, "hello") == [REFUSED]
    assert limits_sent(bot.llm) == [{"max_tokens": 100}]


# ---- the fake LLM is as strict as the real API --------------------------------------
@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake


async def test_the_fake_refuses_a_field_with_openais_own_error(llm: FakeLLM) -> None:
    llm.reject_param("max_tokens")
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=0)
    try:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "hi"}], max_tokens=10
            )
        assert refused.value.body == {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
        llm.unsupported_params.clear()
        with pytest.raises(openai.BadRequestError, match="at the same time is not supported"):
            await client.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": "hi"}],
                max_completion_tokens=10,
                extra_body={"max_tokens": 10},
            )
        with pytest.raises(openai.BadRequestError, match="integer below minimum value"):
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "hi"}], max_tokens=0
            )
        answer = await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            max_completion_tokens=1,
        )
        assert answer.choices[0].finish_reason == "length"
        assert llm.last_request["max_completion_tokens"] == 1
    finally:
        await client.close()
