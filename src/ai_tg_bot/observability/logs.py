"""Logging set-up: LOG_LEVEL, and LOG_FORMAT text or json (ADR 0020).

Fields are real: a call site passes them with `extra=` (`log.info("turn", extra=fields)`),
and they are never scraped from the message. LOG_FORMAT=json writes one JSON object a
line (python-json-logger) with `time`, `level`, `logger`, the worker's index under
WEBHOOK_WORKERS, `message`, every field, and the exception; text writes the message
followed by the fields as `key=value`. Every string that reaches either is redacted
(the record factory in observability.redaction masks the message and arguments; the formatters
mask fields and exceptions).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from ai_tg_bot.config import Settings
from ai_tg_bot.observability.redaction import redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What a LogRecord has of its own: anything else on it came from `extra=`.
_OWN = frozenset(RESERVED_ATTRS) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call site gave the record (`extra=`), redacted where text."""
    return {
        key: redact(value) if isinstance(value, str) else value
        for key, value in record.__dict__.items()
        if key not in _OWN and not key.startswith("_")
    }


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per record: time, level, logger, worker (under WEBHOOK_WORKERS),
    message, the record's fields, and the exception (redacted) if there is one."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__(
            json_ensure_ascii=False,
            reserved_attrs=sorted(_OWN),
            rename_fields={"exc_info": "exception"},
        )
        self.worker = worker

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The fixed fields first, then the record's own (`extra=`), redacted."""
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        if self.worker is not None:
            log_data["worker"] = self.worker
        log_data["message"] = record.getMessage()
        for key, value in fields_of(record).items():
            log_data.setdefault(key, value)
        if message_dict.get("exc_info"):
            log_data["exception"] = redact(str(message_dict["exc_info"]))
        if message_dict.get("stack_info"):
            log_data["stack"] = redact(str(message_dict["stack_info"]))


class TextFormatter(logging.Formatter):
    """The classic line, then the record's fields as key=value (values with spaces
    quoted), so text logs carry what JSON logs do."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = fields_of(record)
        if not fields:
            return line
        pairs = " ".join(f"{key}={_shown(value)}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")  # an exception follows the first line
        return f"{head} {pairs}{newline}{rest}"


def _shown(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def configure_logging(settings: Settings, worker: int | None = None) -> None:
    """The root handler in LOG_FORMAT at LOG_LEVEL, and the noisy loggers quietened.
    A worker process (WEBHOOK_WORKERS > 1) tags each record with its index."""
    configure(settings.log_format, settings.log_level, worker)


def configure(log_format: str, level: str | int, worker: int | None = None) -> None:
    """`configure_logging` for a format and level known before Settings load (a start-up
    failure must be written the way the operator asked for)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(worker))
    elif worker is None:
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
    else:
        tagged = TEXT_FORMAT.replace("%(name)s", f"[worker {worker}] %(name)s")
        handler.setFormatter(TextFormatter(tagged))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiogram logs every handled update at INFO; keep those at DEBUG-level noise.
    effective = logging.getLogger("ai_tg_bot").getEffectiveLevel()
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, effective))
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
