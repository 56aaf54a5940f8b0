"""LLM_MAX_TOKENS and LLM_MAX_TOKENS_PARAM: validated, and the field picked per server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_tg_bot.config.settings import Settings, SettingsError, load_settings
from ai_tg_bot.llm.client import limit_param_for


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "max_completion_tokens"),  # the default: OpenAI itself
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("http://localhost:11434/v1", "max_tokens"),
        ("https://openrouter.ai/api/v1", "max_tokens"),
        ("https://api.openai.com.example.net/v1", "max_tokens"),
    ],
)
def test_auto_picks_the_field_by_server(base_url: str | None, expected: str) -> None:
    assert limit_param_for(settings(openai_base_url=base_url)) == expected


def test_a_configured_field_wins() -> None:
    openai_itself = settings(openai_base_url=None, llm_max_tokens_param=" MAX_TOKENS ")
    assert limit_param_for(openai_itself) == "max_tokens"
    local = settings(
        openai_base_url="http://127.0.0.1:8000/v1", llm_max_tokens_param="max_completion_tokens"
    )
    assert limit_param_for(local) == "max_completion_tokens"


def test_defaults() -> None:
    assert settings().llm_max_tokens == 4096
    assert settings().llm_max_tokens_param == "auto"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"llm_max_tokens": -1}, "LLM_MAX_TOKENS"),
        ({"llm_max_tokens": "lots"}, "LLM_MAX_TOKENS"),
        ({"llm_max_tokens_param": "max_output_tokens"}, "LLM_MAX_TOKENS_PARAM"),
    ],
)
def test_bad_values_are_named(
    overrides: dict[str, object], named: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    with pytest.raises(SettingsError, match=named) as error:
        load_settings(**overrides)
    assert "\n" not in str(error.value)
