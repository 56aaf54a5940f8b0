"""The commands that answer without loading the bot (`health`, every 30 s in Docker's
healthcheck; `settings`), and the one line a failed command prints: standard library
only, so each takes a fraction of a second (process.cli runs them)."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from ai_tg_bot.errors import EXIT_CONFIG_ERROR as EXIT_CONFIG_ERROR
from ai_tg_bot.errors import EXIT_UNEXPECTED as EXIT_UNEXPECTED


def fail(message: str, code: int = EXIT_CONFIG_ERROR) -> int:
    """One clear line on stderr (a JSON object with LOG_FORMAT=json, like every other
    line then); the caller exits with `code`."""
    line = f"ai-tg-bot: {message}"
    if light_settings(("LOG_FORMAT",)).get("LOG_FORMAT", "").lower() == "json":
        from datetime import UTC, datetime

        when = datetime.now(UTC).isoformat(timespec="milliseconds")
        entry = {"time": when, "level": "ERROR", "logger": "ai_tg_bot.process.cli", "message": line}
        line = json.dumps(entry, ensure_ascii=False)
    print(line, file=sys.stderr)
    return code


# The settings `health` reads, and the webhook port's default (config.Settings).
HEALTH_SETTINGS = ("WEBHOOK_URL", "WEBHOOK_LISTEN_PORT", "HEALTH_PORT")
DEFAULT_WEBHOOK_PORT = 8080


def light_settings(names: tuple[str, ...], env_file: Path = Path(".env")) -> dict[str, str]:
    """A few settings as Settings reads them (the environment over `.env`, names in any
    case), without loading Settings: blank values count as unset."""
    found: dict[str, str] = {}
    wanted = {name.upper() for name in names}
    try:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key.strip().upper() in wanted:
            found[key.strip().upper()] = value.strip().strip("'\"")
    for key, value in os.environ.items():
        if key.upper() in wanted:
            found[key.upper()] = value.strip()
    return {key: value for key, value in found.items() if value}


def health() -> int:
    """GET /healthz of the bot running here (the webhook's port, else HEALTH_PORT): 0
    when it answers 200, 1 otherwise. Reads only the three settings it needs."""
    values = light_settings(HEALTH_SETTINGS)
    raw = (
        values.get("WEBHOOK_LISTEN_PORT", str(DEFAULT_WEBHOOK_PORT))
        if values.get("WEBHOOK_URL")
        else values.get("HEALTH_PORT")
    )
    if raw is None:
        return fail("no health endpoint: set HEALTH_PORT (polling mode) or WEBHOOK_URL")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        return fail(f"the health port {raw!r} is not a port number (1-65535)")
    port = int(raw)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            ok = response.status == 200
    except OSError as exc:
        return fail(f"/healthz on port {port} did not answer: {type(exc).__name__}", 1)
    return 0 if ok else 1


def print_settings() -> int:
    """Every setting with its default and a line on what it does: the packaged reference
    (the repository's .env.example is this file), for a pip or uvx install that has no
    .env.example to read."""
    reference = Path(__file__).resolve().parent.parent / "settings.env"
    sys.stdout.write(reference.read_text(encoding="utf-8"))
    return 0
