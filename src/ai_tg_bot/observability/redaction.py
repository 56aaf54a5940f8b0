"""No secret in any log: every log record is redacted the moment it is created.

The redaction runs in the LogRecordFactory, not in a Filter: a logger's filters do not see
records propagated from its children, and a handler's filters do not cover handlers added
later (pytest's caplog, a library's own). A record leaves the factory with its message
formatted and redacted (msg and args replaced only when something was masked) and its
exception and stack text rendered into `exc_text` / `stack_info` and redacted, which is
what every `logging.Formatter` prints. The exception object itself stays in `exc_info`
for handlers that want its type; a handler that renders `exc_info` on its own, bypassing
`exc_text`, is not covered.

Masked: the configured secrets (TELEGRAM_BOT_TOKEN, OPENAI_API_KEY, WEBHOOK_SECRET, the
DATABASE_URL password, credentials inside OPENAI_BASE_URL, TELEGRAM_API_URL and
WEBHOOK_URL), and, whatever the settings, anything shaped like a bot token, `/bot<token>`
path segments, the userinfo of any URL, key-like query parameters, and bearer tokens.
"""

from __future__ import annotations

import base64
import logging
import re
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

if TYPE_CHECKING:
    from ai_tg_bot.config import Settings

MASK = "***"
# Configured values shorter than this are not masked wherever they occur: they are
# placeholders ("x", "ollama" for a server that ignores the key), and masking every "x"
# would garble every line. Inside a URL or a /bot path they are still masked by shape.
MIN_SECRET_CHARS = 8
# The loggers of the HTTP clients under openai: one INFO line per request, with the URL.
HTTP_CLIENT_LOGGERS = ("httpx2", "httpcore2", "httpx", "httpcore")

_TOKEN_SHAPED = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
_BOT_PATH = re.compile(r"(/bot)\d+(?::|%3[Aa])[^/\s?#'\"<>]+")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#]*@")
_QUERY_PARAM = re.compile(r"([?&;])([A-Za-z0-9_.\-\[\]]+)=([^&#\s'\"<>]*)")
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key)(['\"]?\s*[:=]\s*['\"]?)"
    r"(?:(bearer|basic|token)\s+)?[^\s'\",;}&#]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{16,}=*")
_KEY_WORDS = frozenset({
    "key", "token", "secret", "password", "passwd", "pwd", "pass", "sig", "signature",
    "auth", "authorization", "credential", "credentials",
})  # fmt: skip
_KEY_ENDINGS = ("key", "token", "secret", "password")


def is_key_like(name: str) -> bool:
    """Whether a query parameter's name says its value is a credential (api_key, sig...)."""
    parts = [part for part in re.split(r"[-_.\[\]]+", name.lower()) if part]
    return any(part in _KEY_WORDS or part.endswith(_KEY_ENDINGS) for part in parts)


def _mask_param(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    if value and is_key_like(name):
        return f"{separator}{name}={MASK}"
    return match.group(0)


def _mask_auth_header(match: re.Match[str]) -> str:
    name, separator, scheme = match.groups()
    return f"{name}{separator}{scheme + ' ' if scheme else ''}{MASK}"


class Redactor:
    """Masks secrets in text and in log records; secrets are only ever added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._exact: re.Pattern[str] | None = None
        self._formatter = logging.Formatter()

    def add_secrets(self, values: Iterable[str | None]) -> None:
        """Mask these exact values from now on (those under MIN_SECRET_CHARS are ignored)."""
        fresh = {v for v in values if v and len(v) >= MIN_SECRET_CHARS}
        fresh |= {quote(v, safe="") for v in fresh}
        with self._lock:
            merged = self._secrets | fresh
            if merged == self._secrets:
                return
            # Longest first, so a token is masked whole rather than around a shorter secret.
            alternatives = sorted(merged, key=len, reverse=True)
            self._exact = re.compile("|".join(map(re.escape, alternatives)))
            self._secrets = frozenset(merged)

    def redact(self, text: str) -> str:
        """The text with every secret it carries replaced by `***`."""
        exact = self._exact
        if exact is not None:
            text = exact.sub(MASK, text)
        text = _TOKEN_SHAPED.sub(MASK, text)
        text = _BOT_PATH.sub(rf"\1{MASK}", text)
        text = _URL_USERINFO.sub(rf"\1{MASK}@", text)
        text = _QUERY_PARAM.sub(_mask_param, text)
        text = _AUTH_HEADER.sub(_mask_auth_header, text)
        return _BEARER.sub(rf"\1{MASK}", text)

    def redact_record(self, record: logging.LogRecord) -> None:
        """Redact a record in place: its message and arguments, exception and stack text."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it on emit, cleanly
            if isinstance(record.msg, str):
                record.msg = self.redact(record.msg)
            record.args = self._redact_args(record.args)
        else:
            clean = self.redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
        if record.exc_info:
            # What Formatter.format would print; pre-rendered, it is what every one prints.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)

    def _redact_args(self, args: Any) -> Any:
        if isinstance(args, Mapping):
            return {key: self.redact(str(value)) for key, value in args.items()}
        if isinstance(args, tuple):
            return tuple(self.redact(str(value)) for value in args)
        return args


_redactor = Redactor()
_install_lock = threading.Lock()


def redact(text: str) -> str:
    """The text with every known secret and secret-shaped part masked."""
    return _redactor.redact(text)


class _RedactingFactory:
    """A LogRecordFactory that redacts what the factory it wraps makes."""

    def __init__(self, base: Callable[..., logging.LogRecord]) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        try:
            _redactor.redact_record(record)
        except Exception as exc:  # fail closed: a record we cannot clean says only that
            record.msg = f"[log record withheld: redaction failed with {type(exc).__name__}]"
            record.args, record.exc_info, record.exc_text, record.stack_info = (), None, None, None
        return record


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, including credentials inside their URLs."""
    values: list[str] = []
    for secret in (settings.telegram_bot_token, settings.openai_api_key, settings.webhook_secret):
        if secret is not None:
            values.append(secret.get_secret_value())
    token = settings.telegram_bot_token
    if token is not None:  # its secret half on its own too
        values.append(token.get_secret_value().partition(":")[2])
    urls = (
        settings.database_url,
        settings.openai_base_url,
        settings.telegram_api_url,
        settings.webhook_url,
    )
    for url in urls:
        values.extend(url_credentials(url))
    for target in settings.mcp_servers.values():
        values.extend(mcp_credentials(target))
    return values


def mcp_credentials(target: str) -> list[str]:
    """What an MCP_SERVERS target may carry that is secret: a URL's credentials, or the
    values a command line gives as `env KEY=value` (config.mcp), `--option=value` or
    `--option value` for a key-like option (`--api-key`, `--token`); for a URL, also a
    path segment shaped like a token (hosted MCP servers put one there:
    `/api/mcp/s/<token>/mcp`)."""
    if target.startswith(("http://", "https://")):
        return url_credentials(target) + path_tokens(target)
    try:
        words = shlex.split(target)
    except ValueError:
        return []
    secrets: list[str] = []
    in_env = bool(words) and words[0] == "env"
    for index, word in enumerate(words):
        name, sep, value = word.partition("=")
        if not sep and name.startswith("-") and is_key_like(name.lstrip("-")):
            following = words[index + 1] if index + 1 < len(words) else ""
            if len(following) >= 4 and not following.startswith("-"):
                secrets.append(following)  # `--token X`: the value is the next word
            continue
        if not sep or len(value) < 4:
            continue
        if (in_env and index > 0 and not name.startswith("-")) or (
            name.startswith("-") and is_key_like(name.lstrip("-"))
        ):
            secrets.append(value)
    return secrets


# A URL path segment this long, with letters and digits, is taken for a credential.
TOKEN_SEGMENT_CHARS = 16


def path_tokens(url: str) -> list[str]:
    """The path segments of a URL that look like tokens (long, letters and digits mixed),
    and any segment after one named like a credential (`/token/<value>`)."""
    try:
        segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
    except ValueError:
        return []
    found: list[str] = []
    for index, segment in enumerate(segments):
        after_key = index > 0 and is_key_like(segments[index - 1])
        mixed = any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)
        if (len(segment) >= TOKEN_SEGMENT_CHARS and mixed) or (after_key and len(segment) >= 4):
            found.append(segment)
    return found


def url_credentials(url: str | None) -> list[str]:
    """The password, the Basic-auth header value and key-like query values of a URL."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:  # unparsable: the URL rules still mask it by shape
        return []
    found: list[str] = []
    if password:
        found += [password, unquote(password)]
        basic = f"{unquote(username or '')}:{unquote(password)}".encode()
        found.append(base64.b64encode(basic).decode())
    found += [value for name, value in parse_qsl(parts.query) if is_key_like(name)]
    return found


def quiet_http_clients(log_requests: bool) -> None:
    """The HTTP clients' per-request lines: off (WARNING) unless LOG_HTTP_REQUESTS."""
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if log_requests else logging.WARNING)


def install_redaction(settings: Settings | None = None) -> Redactor:
    """Redact every log record from now on; idempotent.

    Without settings only the rules by shape apply (call it before settings load); with
    them their secret values are masked too, and the HTTP clients' request lines are
    set by LOG_HTTP_REQUESTS.
    """
    with _install_lock:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(current))
    if settings is not None:
        _redactor.add_secrets(secrets_of(settings))
        quiet_http_clients(settings.log_http_requests)
    return _redactor
