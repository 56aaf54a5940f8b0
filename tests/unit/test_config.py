"""Settings: .env.example loads as is; bad values stop start-up naming the setting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ai_tg_bot.config import Settings, SettingsError, load_settings

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
