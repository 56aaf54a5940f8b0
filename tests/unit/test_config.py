"""Settings: .env.example loads as is; bad values stop start-up naming the setting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from ai_tg_bot.config.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    return tmp_path


def test_the_example_env_file_is_valid(in_empty_dir: Path) -> None:
    shutil.copy(ROOT / ".env.example", in_empty_dir / ".env")
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/bot.db"
    assert settings.telegram_bot_token is None
    assert settings.allowed_user_ids == []
    assert settings.health_port is None
    assert settings.retention_days is None, "empty RETENTION_DAYS: keep forever"
    assert settings.llm_models == [settings.llm_model]
    documented = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in documented, f"{name.upper()} is not in .env.example"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"telegram_bot_token": "nope"}, "TELEGRAM_BOT_TOKEN"),
        ({"default_max_history_messages": 0}, "DEFAULT_MAX_HISTORY_MESSAGES"),
        ({"allowed_user_ids": "12,abc"}, "ALLOWED_USER_IDS"),
        ({"webhook_url": "https://x.example"}, "WEBHOOK_SECRET"),
        ({"webhook_url": "https://x.example", "webhook_secret": "has space"}, "WEBHOOK_SECRET"),
        ({"openai_base_url": "ftp://x"}, "OPENAI_BASE_URL"),
        ({"log_level": "loud"}, "LOG_LEVEL"),
        ({"retention_days": 0}, "RETENTION_DAYS"),
        ({"retention_days": "soon"}, "RETENTION_DAYS"),
        ({"default_language": "xx"}, "DEFAULT_LANGUAGE"),
        ({"webapp_url": "http://bot.example/app", "health_port": 8081}, "WEBAPP_URL"),
        ({"webapp_url": "https://bot.example/app"}, "WEBAPP_URL"),
        ({"webapp_max_age_seconds": 5}, "WEBAPP_MAX_AGE_SECONDS"),
    ],
)
def test_bad_values_are_named_in_one_line(
    in_empty_dir: Path, overrides: dict[str, object], named: str
) -> None:
    with pytest.raises(SettingsError, match=named) as error:
        load_settings(**overrides)
    assert "\n" not in str(error.value)


def test_lists_and_models(in_empty_dir: Path) -> None:
    settings = load_settings(
        allowed_user_ids="1, 2", admin_user_ids="3", llm_model="a", llm_models="b,c"
    )
    assert settings.allowed_user_ids == [1, 2]
    assert settings.is_allowed(3)
    assert not settings.is_allowed(4)
    assert settings.llm_models == ["a", "b", "c"]
    assert load_settings().is_allowed(999), "empty ALLOWED_USER_IDS means everyone"


def test_default_language_accepts_regional_codes(in_empty_dir: Path) -> None:
    assert load_settings().default_language == "en"
    assert load_settings(default_language="RU-ru").default_language == "ru"
    assert load_settings(default_language=" ").default_language == "en", "empty: the default"


def test_model_prices_read_as_pairs_or_json() -> None:
    given = "gpt-4o-mini:0.15:0.6, llama3:8b:0:0"
    assert Settings(_env_file=None, model_prices=given).model_prices == {
        "gpt-4o-mini": (0.15, 0.6),
        "llama3:8b": (0.0, 0.0),  # a model name may hold colons itself
    }
    as_json = '{"a": [1, 2], "b": {"input": 0.5, "output": 1}}'
    assert Settings(_env_file=None, model_prices=as_json).model_prices == {
        "a": (1.0, 2.0),
        "b": (0.5, 1.0),
    }
    assert Settings(_env_file=None, model_prices="").model_prices == {}


@pytest.mark.parametrize(
    "bad", ['{"a": [1]}', '{"a": {"in": 1}}', "x:1", "m:-1:2", "{bad", "m:a:b"]
)
def test_malformed_model_prices_are_refused_with_the_format(bad: str) -> None:
    with pytest.raises(ValidationError, match="per million tokens"):
        Settings(_env_file=None, model_prices=bad)


def test_stars_packs_are_stars_and_tokens() -> None:
    packs = Settings(_env_file=None, stars_packs="50:100000, 200:500000").stars_packs
    assert packs == [(50, 100_000), (200, 500_000)]
    for bad in ("50", "50:x", "0:100", "50:100,50:100", "-1:5"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, stars_packs=bad)


def test_subscription_plans_are_stars_and_tokens_a_month_at_most_10000_stars() -> None:
    plans = Settings(_env_file=None, subscription_plans="100:300000, 10000:5").subscription_plans
    assert plans == [(100, 300_000), (10_000, 5)]
    for bad in ("100", "100:x", "0:100", "100:5,100:5", "10001:5"):
        with pytest.raises(ValidationError, match="subscription_plans"):
            Settings(_env_file=None, subscription_plans=bad)
