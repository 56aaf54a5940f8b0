"""Mini App sign-in for tests: initData signed the way Telegram signs it.

Telegram's Mini Apps documentation: every field but `hash`, as `key=value`, sorted by
key and joined with newlines, is the data-check string; `hash` is its hex HMAC-SHA256
under the key HMAC-SHA256("WebAppData", bot token). The page sends the whole query
string as `Authorization: tma <initData>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote, urlencode


def init_data_hash(token: str, fields: dict[str, str]) -> str:
    """The `hash` Telegram gives these fields (every one but `hash` itself)."""
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()) if key != "hash")
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


def sign_init_data(
    token: str, user: dict[str, Any], *, auth_date: int | None = None, **fields: str
) -> str:
    """initData for `user` (a WebAppUser as a dict: id, first_name, language_code, ...),
    opened at `auth_date` (Unix time; now by default), with any other fields (query_id,
    chat_instance, ...), signed with the bot's token and URL-encoded as Telegram does."""
    values = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
        **fields,
    }
    values["hash"] = init_data_hash(token, values)
    return urlencode(values, quote_via=quote)


def tma(init_data: str) -> dict[str, str]:
    """The request header the page sends with initData."""
    return {"Authorization": f"tma {init_data}"}
