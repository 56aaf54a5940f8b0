"""Logging set-up: LOG_LEVEL, and LOG_FORMAT text (one key=value line a record) or json
(one JSON object a line, with the same fields, for log collectors)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from ai_tg_bot.config import Settings
from ai_tg_bot.redaction import redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The key=value pairs a message carries ("turn user_id=1 outcome=ok latency_ms=12").
_PAIR = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)=(\S+)")


def _value(raw: str) -> Any:
    """A number stays a number in JSON; anything else is a string."""
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger (and the worker's index under
    WEBHOOK_WORKERS), message, the message's own key=value fields, and the exception
    (already redacted) if there is one."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if self.worker is not None:
            entry["worker"] = self.worker
        entry["message"] = message
        for key, raw in _PAIR.findall(message):
            entry.setdefault(key, _value(raw))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings, worker: int | None = None) -> None:
    """The root handler in LOG_FORMAT at LOG_LEVEL, and the noisy loggers quietened.
    A worker process (WEBHOOK_WORKERS > 1) tags each record with its index."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(worker))
    elif worker is None:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        tagged = TEXT_FORMAT.replace("%(name)s", f"[worker {worker}] %(name)s")
        handler.setFormatter(logging.Formatter(tagged))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # aiogram logs every handled update at INFO; keep those at DEBUG-level noise.
    level = logging.getLogger("ai_tg_bot").getEffectiveLevel()
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, level))
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
