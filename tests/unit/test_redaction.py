"""The log redactor: every secret kind, in a message, its arguments and exception text."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ai_tg_bot import config
from ai_tg_bot.config.settings import Settings, SettingsError
from ai_tg_bot.observability.redaction import (
    HTTP_CLIENT_LOGGERS,
    MASK,
    Redactor,
    install_redaction,
    is_key_like,
    secrets_of,
    url_credentials,
)
from ai_tg_bot.process import cli as entry_point

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"  # the shape @BotFather gives
API_KEY = "sk-proj-0123456789abcdefABCDEF"
DB_PASSWORD = "db-Pa55word!"
WEBHOOK_SECRET = "hook_secret_0123456789"
SECRETS = (TOKEN, API_KEY, DB_PASSWORD, WEBHOOK_SECRET)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "openai_api_key": API_KEY,
        "database_url": f"postgresql+asyncpg://bot:{DB_PASSWORD}@db.internal:5432/bot",
        "webhook_url": "https://bot.example.com",
        "webhook_secret": WEBHOOK_SECRET,
    }
    return Settings(_env_file=None, **(values | overrides))


@pytest.fixture
def redactor() -> Redactor:
    """The process-wide redactor with the test settings' secrets (the factory installed)."""
    return install_redaction(settings())


@pytest.fixture
def caplog_debug(caplog: pytest.LogCaptureFixture, redactor: Redactor) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record as a handler would print it, plus its raw msg and args."""
    formatter = logging.Formatter()
    parts = [caplog.text]
    for record in caplog.records:
        parts += [formatter.format(record), str(record.msg), repr(record.args)]
    return "\n".join(parts)


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets or SECRETS:
        assert secret not in text, f"{secret!r} leaked into: {text}"


# ---- the text rules -----------------------------------------------------------------


@pytest.mark.parametrize("secret", SECRETS)
def test_each_configured_secret_is_masked(redactor: Redactor, secret: str) -> None:
    assert redactor.redact(f"before {secret} after") == f"before {MASK} after"


def test_the_token_in_a_file_url_and_its_secret_half_alone(redactor: Redactor) -> None:
    url = f"https://api.telegram.org/file/bot{TOKEN}/voice/file_7.oga"
    assert redactor.redact(url) == f"https://api.telegram.org/file/bot{MASK}/voice/file_7.oga"
    half = TOKEN.partition(":")[2]
    assert redactor.redact(f"hash={half}") == f"hash={MASK}"


def test_an_unknown_token_is_masked_by_its_shape() -> None:
    other = "5550001111:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
    assert Redactor().redact(f"token {other}!") == f"token {MASK}!"


def test_a_short_token_in_a_bot_path_is_masked_by_the_path() -> None:
    text = "GET http://127.0.0.1:8081/bot123456:TEST-token/getMe and /file/bot1:x/a.jpg"
    assert Redactor().redact(text) == (
        f"GET http://127.0.0.1:8081/bot{MASK}/getMe and /file/bot{MASK}/a.jpg"
    )


def test_url_userinfo_is_masked_whatever_the_scheme() -> None:
    redactor = Redactor()
    assert redactor.redact("POST http://user:pass@proxy:3128/v1/chat/completions") == (
        f"POST http://{MASK}@proxy:3128/v1/chat/completions"
    )
    assert redactor.redact("postgresql+asyncpg://bot:p@ss@db:5432/bot") == (
        f"postgresql+asyncpg://{MASK}@db:5432/bot"
    )
    assert redactor.redact("url='https://token@host/x'") == f"url='https://{MASK}@host/x'"
    # An address after the path, or with no URL at all, is not userinfo.
    kept = "see https://example.com/contact?to=admin@example.com or mail me@example.com"
    assert redactor.redact(kept) == kept


@pytest.mark.parametrize(
    "name",
    ["key", "api_key", "apikey", "API-KEY", "token", "access_token", "secret",
     "client_secret", "password", "sig", "signature", "X-Amz-Signature", "auth"],
)  # fmt: skip
def test_key_like_query_parameters_are_masked(name: str) -> None:
    text = f"GET https://gw.example/v1/models?page=2&{name}=s3cr3t-VALUE&limit=5#top"
    assert Redactor().redact(text) == (
        f"GET https://gw.example/v1/models?page=2&{name}={MASK}&limit=5#top"
    )


@pytest.mark.parametrize("name", ["page", "limit", "model", "q", "design", "offset"])
def test_ordinary_query_parameters_are_kept(name: str) -> None:
    assert not is_key_like(name)
    text = f"https://gw.example/v1?{name}=value"
    assert Redactor().redact(text) == text


def test_authorization_headers_and_bearer_tokens_are_masked() -> None:
    redactor = Redactor()
    assert redactor.redact("{'Authorization': 'Bearer abcdefghijklmnopqrstuvwxyz'}") == (
        f"{{'Authorization': 'Bearer {MASK}'}}"
    )
    assert redactor.redact("x-api-key: abcdef123456") == f"x-api-key: {MASK}"
    assert redactor.redact("bearer of bad news") == "bearer of bad news"


@pytest.mark.parametrize("key", ["x", "abc", "ollama", "sk-1234"])
def test_a_short_api_key_is_not_masked_everywhere(key: str) -> None:
    redactor = Redactor()
    redactor.add_secrets([key])
    line = "max 5 xs: llama via ollama, model abc, sk-1234 is a placeholder"
    assert redactor.redact(line) == line


def test_credentials_inside_configured_urls_are_secrets_anywhere() -> None:
    redactor = Redactor()
    base = "https://relay:relay-pass-123@gw.example/v1?api_key=gw-key-45678&region=eu"
    redactor.add_secrets(url_credentials(base))
    basic = base64.b64encode(b"relay:relay-pass-123").decode()
    text = f"relay-pass-123 gw-key-45678 Basic {basic} eu"
    assert redactor.redact(text) == f"{MASK} {MASK} Basic {MASK} eu"


def test_redaction_is_idempotent(redactor: Redactor) -> None:
    text = f"http://u:p@h/bot{TOKEN}/x?key={API_KEY}"
    once = redactor.redact(text)
    assert redactor.redact(once) == once
    assert_clean(once)


# ---- records, through the installed factory ---------------------------------------------


def test_secrets_in_the_message_and_its_arguments(caplog_debug: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.redaction")
    log.debug(f"token {TOKEN}")
    log.info("key %s for %s", API_KEY, "http://a:b@host/")
    log.warning("mapping %(secret)s", {"secret": WEBHOOK_SECRET})
    log.error("raw object %r", ValueError(DB_PASSWORD))
    assert len(caplog_debug.records) == 4
    assert_clean(everything_logged(caplog_debug))
    assert caplog_debug.records[1].getMessage() == f"key {MASK} for http://{MASK}@host/"


def test_a_message_without_secrets_keeps_its_arguments(
    caplog_debug: pytest.LogCaptureFixture,
) -> None:
    logging.getLogger("tests.redaction").info("turn user_id=%s outcome=%s", 7, "ok")
    (record,) = caplog_debug.records
    assert (record.msg, record.args) == ("turn user_id=%s outcome=%s", (7, "ok"))


def test_records_of_child_loggers_and_every_level_are_covered(
    caplog_debug: pytest.LogCaptureFixture,
) -> None:
    # The HTTP client's own line, as it logs it (a URL object as the argument).
    http_log = logging.getLogger("httpx2.child")
    http_log.setLevel(logging.DEBUG)
    try:
        url = URL(f"http://user:secretpass@127.0.0.1:9/v1/chat/completions?api_key={API_KEY}")
        http_log.info('HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 200, "OK")
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.CRITICAL):
            logging.getLogger("a.b.c.d").log(level, "level %s %s", level, TOKEN)
    finally:
        http_log.setLevel(logging.NOTSET)
    text = everything_logged(caplog_debug)
    assert_clean(text, *SECRETS, "secretpass")
    assert f"http://{MASK}@127.0.0.1:9/v1/chat/completions?api_key={MASK}" in text


def _client_response_error() -> aiohttp.ClientResponseError:
    """What aiohttp raises for a failed file download (its text carries the URL)."""
    url = URL(f"https://api.telegram.org/file/bot{TOKEN}/voice/file_7.oga")
    info = aiohttp.RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)
    return aiohttp.ClientResponseError(info, (), status=404, message="Not Found")


def test_an_exception_with_its_traceback_and_cause(
    caplog_debug: pytest.LogCaptureFixture,
) -> None:
    error = _client_response_error()
    assert TOKEN in str(error), "the leak this guards against"
    log = logging.getLogger("tests.redaction")
    try:
        try:
            raise error
        except aiohttp.ClientError as exc:
            raise RuntimeError(f"download failed with key {API_KEY}") from exc
    except RuntimeError:
        log.exception("download of %s failed", "voice")
        log.warning("again", exc_info=True, stack_info=True)
    text = everything_logged(caplog_debug)
    assert_clean(text)
    assert "Traceback (most recent call last)" in text
    assert "ClientResponseError: 404, message='Not Found'" in text
    assert f"/file/bot{MASK}/voice/file_7.oga" in text
    first = caplog_debug.records[0].exc_info
    assert first is not None
    assert first[0] is RuntimeError, "the exception's type is kept for handlers"


def test_a_broken_format_string_is_still_redacted(redactor: Redactor) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s " + TOKEN, (API_KEY,), None)
    redactor.redact_record(record)
    assert_clean(f"{record.msg} {record.args}")


def test_installing_twice_wraps_the_factory_once(redactor: Redactor) -> None:
    factory = logging.getLogRecordFactory()
    assert install_redaction(settings()) is redactor
    assert install_redaction() is redactor
    assert logging.getLogRecordFactory() is factory


def test_main_redacts_before_the_settings_are_even_loaded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    other = "5550001111:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"

    def load_settings() -> Settings:
        logging.getLogger("ai_tg_bot").warning("checking https://api.telegram.org/bot%s", other)
        raise SettingsError("Invalid setting TELEGRAM_BOT_TOKEN: malformed")

    monkeypatch.setattr(config, "load_settings", load_settings)  # as serve.load_configured finds it
    installed = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)  # as in a fresh process
    try:
        assert entry_point.main([]) == entry_point.EXIT_CONFIG_ERROR
    finally:
        logging.setLogRecordFactory(installed)
    assert "checking https://api.telegram.org/bot***" in caplog.text
    assert other not in caplog.text


def test_http_request_lines_are_off_unless_asked_for() -> None:
    install_redaction(settings())
    assert all(logging.getLogger(n).level == logging.WARNING for n in HTTP_CLIENT_LOGGERS)
    install_redaction(settings(log_http_requests=True))
    assert all(logging.getLogger(n).level == logging.NOTSET for n in HTTP_CLIENT_LOGGERS)
    install_redaction(settings())
    assert logging.getLogger("httpx2").getEffectiveLevel() == logging.WARNING


@pytest.fixture(autouse=True)
def _http_logger_levels_kept() -> Iterator[None]:
    """Installing with settings sets the HTTP clients' logger levels: put them back."""
    levels = {name: logging.getLogger(name).level for name in HTTP_CLIENT_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_mcp_server_secrets_are_masked() -> None:
    settings = Settings(
        telegram_bot_token="123456:ABCdef_ghiJKL-mno",
        mcp_servers=(
            '{"mcpServers": {"search": {"command": "npx", "args": ["search-mcp",'
            ' "--api-key=sk-search-0123456789"], "env": {"SEARCH_TOKEN": "tok-abcdef123"}},'
            ' "web": {"url": "https://tools.example/mcp?api_key=web-key-987654"}}}'
        ),
    )
    redactor = Redactor()
    redactor.add_secrets(secrets_of(settings))
    line = (
        "MCP server search stderr: auth failed for sk-search-0123456789 (tok-abcdef123);"
        " POST https://tools.example/mcp?api_key=web-key-987654 refused"
    )
    masked = redactor.redact(line)
    for secret in ("sk-search-0123456789", "tok-abcdef123", "web-key-987654"):
        assert secret not in masked
    assert "MCP server search stderr: auth failed" in masked


def test_mcp_tokens_in_a_url_path_or_after_a_spaced_option_are_masked_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hosted MCP servers put the token in the path; command lines give `--token X`."""
    settings = Settings(
        telegram_bot_token="123456:ABCdef_ghiJKL-mno",
        mcp_servers=(
            "hosted=https://mcp.example/api/mcp/s/a1B2c3D4e5F6g7H8i9J0/mcp,"
            "local=uvx some-mcp --token tok-spaced-777 --api-key key-spaced-888 --verbose"
        ),
    )
    install_redaction(settings)
    log = logging.getLogger("mcp.client.streamable_http")
    with caplog.at_level(logging.DEBUG):
        log.debug(
            "GET https://mcp.example/api/mcp/s/a1B2c3D4e5F6g7H8i9J0/mcp; argv %s",
            "uvx some-mcp --token tok-spaced-777 --api-key key-spaced-888 --verbose",
        )
    shown = caplog.records[-1].getMessage()
    for secret in ("a1B2c3D4e5F6g7H8i9J0", "tok-spaced-777", "key-spaced-888"):
        assert secret not in shown, shown
    assert "--verbose" in shown
