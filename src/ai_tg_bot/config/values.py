"""The list and map settings as they are written in `.env` (comma lists, `a:b` pairs,
JSON), parsed and checked for config.Settings: each raises ValueError naming the form."""

from __future__ import annotations

import json
import re
from typing import Any

ROLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,59}")


def comma_items(value: str) -> list[str]:
    """The non-empty items of a comma-separated setting, stripped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def split_ids(value: Any) -> Any:
    """ALLOWED_USER_IDS, ADMIN_USER_IDS: "123,456" as ids."""
    if isinstance(value, str):
        parts = comma_items(value)
        if not all(part.lstrip("-").isdigit() for part in parts):
            raise ValueError("must be comma-separated Telegram user ids, e.g. 123,456")
        return [int(part) for part in parts]
    if isinstance(value, int):
        return [value]
    return value


def parse_prices(value: Any) -> Any:
    """MODEL_PRICES: model:input:output per million tokens, or JSON."""
    if not isinstance(value, str):
        return value
    wrong = ValueError(
        "must be model:input:output prices per million tokens, comma-separated "
        '(gpt-4o-mini:0.15:0.6), or JSON ({"gpt-4o-mini": [0.15, 0.6]})'
    )
    items: list[tuple[str, Any]] = []
    if value.strip().startswith("{"):
        try:
            given = json.loads(value)
            for model, price in given.items():
                pair = (price["input"], price["output"]) if isinstance(price, dict) else price
                items.append((model, tuple(pair)))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise wrong from None
    else:
        for item in comma_items(value):
            model, _, rest = item.rpartition(":")
            model, _, given_in = model.rpartition(":")
            items.append((model, (given_in, rest)))
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in items:
        try:
            price = (float(pair[0]), float(pair[1])) if len(pair) == 2 else (-1.0, -1.0)
        except (ValueError, TypeError):
            price = (-1.0, -1.0)
        if not model or min(price) < 0 or max(price) > 1_000_000:
            raise wrong
        prices[str(model)] = price
    return prices


def parse_presets(value: Any) -> Any:
    """ROLE_PRESETS: JSON {"name": "prompt"}, names a link can carry."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('must be JSON: {"name": "the role\'s prompt", ...}') from None
    if isinstance(value, dict):
        for name, prompt in value.items():
            if not (isinstance(name, str) and ROLE_NAME.fullmatch(name)):
                raise ValueError(f"preset name {name!r}: 1-59 of A-Z a-z 0-9 _ -")
            if not (isinstance(prompt, str) and prompt.strip()):
                raise ValueError(f"preset {name!r} needs a prompt")
    return value


def parse_packs(value: Any, *, most_stars: int = 100_000, what: str = "pack") -> Any:
    """STARS_PACKS: stars:tokens pairs, each once (SUBSCRIPTION_PLANS: `parse_plans`)."""
    if not isinstance(value, str):
        return value
    packs: list[tuple[int, int]] = []
    for item in comma_items(value):
        stars, _, tokens = item.partition(":")
        if not (stars.strip().isdigit() and tokens.strip().isdigit()):
            raise ValueError("must be stars:tokens pairs, comma-separated, e.g. 50:100000")
        pack = (int(stars), int(tokens))
        if not (1 <= pack[0] <= most_stars and 1 <= pack[1] <= 10**12):
            raise ValueError(f"each {what}: 1 to {most_stars} stars, 1 to 10^12 tokens")
        packs.append(pack)
    if len(set(packs)) != len(packs):
        raise ValueError(f"the same {what} is listed twice")
    return packs


def parse_plans(value: Any) -> Any:
    """SUBSCRIPTION_PLANS: stars:tokens-per-month pairs, each once; Telegram takes at most
    10000 Stars a period for a subscription."""
    return parse_packs(value, most_stars=10_000, what="plan")
