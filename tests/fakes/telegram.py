"""A loopback stand-in for the Telegram Bot API, for end-to-end tests.

Point aiogram at it with ``TelegramAPIServer.from_base(tg.base_url)``. It keeps the state a
real bot would observe (update queue, sent messages, edits) and answers with Telegram's own
error texts, so the bot's failure handling is exercised too.

Ephemeral messages (Bot API 10.2) are strict too: ``sendMessage`` with
``ephemeral_message_parameters`` only in a group or supergroup, only to a member of it
(someone who wrote there: ``make_message``, or ``add_member``); they are kept apart
(``ephemeral``), never in ``sent``, so a test can tell a notice shown to one member from
one posted to the group. ``become_older_server`` makes a server that knows none: it
ignores the parameter, as an older server ignores any parameter it does not know (the
message is posted for everyone), and answers 404 for the ephemeral methods.

Topics in private chats (Bot API 9.3+) are strict, as on Telegram: ``enable_topics`` and
``open_topic`` make them; a message sent into any other thread of a private chat is
refused with "message thread not found".

Telegram Stars payments are strict too: ``sendInvoice`` takes only Stars invoices (XTR, no
provider token, one price); ``pay`` (or ``checkout``) makes a user pay one, which the bot
must approve with ``answerPreCheckoutQuery`` within ``pre_checkout_timeout`` seconds
before ``complete_payment`` delivers the ``successful_payment``; ``refundStarPayment``
refunds a charge once, and Telegram then reports it with a ``refunded_payment`` message.
``createInvoiceLink`` makes links (a subscription's with ``subscription_period``):
``subscribe`` (or ``pay_link`` and ``complete_link_payment``) buys one,
``renew_subscription`` charges the next period, and ``editUserStarSubscription`` cancels
or restores the renewal of a subscription named by its first charge id.

Inline mode: ``push_inline_query`` sends an inline query (what a user types after
``@bot``); ``answerInlineQuery`` takes one answer per query, within
``inline_query_timeout`` seconds, with results checked as Telegram checks them.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiohttp import web

from tests.fakes.waiting import poll_until

Json = dict[str, Any]

ENTITY_TYPES = frozenset({
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji", "date_time", "bank_card_number",
})  # fmt: skip
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})  # fmt: skip
# Sent only when listed explicitly in allowed_updates.
NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Form fields that carry JSON-serialized values.
JSON_FIELDS = frozenset({
    "entities", "caption_entities", "reply_markup", "commands", "allowed_updates", "scope",
    "reply_parameters", "link_preview_options", "rich_message", "prices", "suggested_tip_amounts",
    "results", "button", "ephemeral_message_parameters",
})  # fmt: skip
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
# Telegram's answers when a bot writes to a user's private chat it may not write to.
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
# Telegram's answer to a message_thread_id that is no open topic of the chat.
THREAD_NOT_FOUND = "Bad Request: message thread not found"
# The Bot API's text for QUERY_ID_INVALID: a callback or pre-checkout query that is
# unknown, already answered, or past its deadline.
QUERY_ID_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
# Payments: a currency other than Telegram Stars needs a payment provider, which this bot
# has none of; a Stars invoice takes exactly one price and no tips.
STARS = "XTR"
PAYMENT_PROVIDER_INVALID = "Bad Request: PAYMENT_PROVIDER_INVALID"
STARS_INVOICE_INVALID = "Bad Request: STARS_INVOICE_INVALID"
CHARGE_NOT_FOUND = "Bad Request: CHARGE_NOT_FOUND"
CHARGE_ALREADY_REFUNDED = "Bad Request: CHARGE_ALREADY_REFUNDED"
# A Stars subscription's one period (30 days), and its highest price.
SUBSCRIPTION_PERIOD = 2_592_000
MAX_SUBSCRIPTION_STARS = 10_000
# How long Telegram waits for answerPreCheckoutQuery before it cancels the payment.
PRE_CHECKOUT_TIMEOUT = 10.0
# Inline mode: how long an inline query takes an answer (about 10 s on Telegram), at most
# how many results, and what a result id and the button's /start parameter may be.
INLINE_QUERY_TIMEOUT = 10.0
MAX_INLINE_RESULTS = 50
INLINE_RESULT_TYPES = frozenset({
    "article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document", "location",
    "venue", "contact", "game", "sticker",
})  # fmt: skip
START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")
# TDLib's bound on a currency amount (check_currency_amount).
MAX_CURRENCY_AMOUNT = 9_999_999_999_999
_DEFAULT_FAULTS = {
    400: "Bad Request: injected failure",
    403: BLOCKED,
    409: POLL_CONFLICT,
    500: "Internal Server Error",
}


class TelegramError(Exception):
    """A Bot API error reply; raised inside handlers and sent as Telegram's error JSON."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def response(self) -> web.Response:
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


def bad_request(what: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {what}")


RICH_MESSAGE_CHARS = 32_768
RICH_MESSAGE_BLOCKS = 500


def count_rich_blocks(source: Any) -> int:
    """The blocks Telegram makes of a rich message: given blocks, or for Markdown each
    paragraph, heading, list item and quote line, and each code block and table whole."""
    if isinstance(source, list):
        return len(source)
    count, in_code, in_table, in_paragraph = 0, False, False, False
    for line in str(source).split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            if not in_code:
                count += 1
            in_code, in_paragraph, in_table = not in_code, False, False
            continue
        if in_code:
            continue
        if stripped.startswith("|"):
            count += 0 if in_table else 1
            in_table, in_paragraph = True, False
            continue
        in_table = False
        if not stripped:
            in_paragraph = False
        elif re.match(r"([-*+]\s|\d+[.)]\s|>|#{1,6}\s)", stripped):
            count += 1
            in_paragraph = False
        elif not in_paragraph:
            count += 1
            in_paragraph = True
    return count


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


# What ChatMemberAdministrator carries besides its status (Bot API 10.x): every right.
ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
    "can_post_stories", "can_edit_stories", "can_delete_stories", "can_send_welcome_messages",
)  # fmt: skip


class Call(NamedTuple):
    method: str
    params: Json
    at: float  # time.monotonic() on arrival


@dataclass
class Upload:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str
    entities: list[Json] | None
    parse_mode: str | None
    edits: list[str] = field(default_factory=list)  # the text after each successful edit
    reply_markup: Json | None = None
    deleted: bool = False
    key: tuple[str, ...] = ()  # what "message is not modified" compares
    rich: bool = False  # sent with sendRichMessage: `text` as shown, `markdown` as sent
    markdown: str = ""
    thread_id: int | None = None  # the topic it was sent to (None: outside topics)


@dataclass
class Draft:
    """One sendMessageDraft call: what the draft bubble showed."""

    chat_id: int
    draft_id: int
    text: str
    can_stop: bool
    thread_id: int | None = None  # the topic it was shown in (None: outside topics)


@dataclass
class HostedFile:
    """A file a user sent, as the Bot API keeps it (see ``add_file``)."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


# getFile refuses larger files ("file is too big"), as on Telegram's own Bot API server.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


@dataclass
class SentDocument:
    chat_id: int
    message_id: int
    filename: str | None
    data: bytes
    caption: str | None
    thread_id: int | None = None  # the topic it was sent to (None: outside topics)


@dataclass
class SentPhoto:
    """One sendPhoto call Telegram accepted: an uploaded image (`data`), or a URL."""

    chat_id: int
    message_id: int
    data: bytes
    url: str | None = None
    caption: str | None = None
    thread_id: int | None = None


@dataclass
class SentVoice:
    """One sendVoice call Telegram accepted (an uploaded OGG/Opus file)."""

    chat_id: int
    message_id: int
    data: bytes
    thread_id: int | None = None


@dataclass
class SentEphemeral:
    """One ephemeral message (Bot API 10.2): shown in a group to one member alone."""

    chat_id: int
    receiver_user_id: int
    ephemeral_message_id: int
    text: str
    thread_id: int | None = None
    deleted: bool = False


class SentAction(NamedTuple):
    """One sendChatAction call, with the topic it was shown in (None: outside topics)."""

    chat_id: int
    thread_id: int | None
    action: str


@dataclass
class SentInvoice:
    """One sendInvoice call Telegram accepted (a Telegram Stars invoice)."""

    chat_id: int
    message_id: int
    title: str
    description: str
    payload: str
    currency: str
    prices: list[Json]  # [{"label": ..., "amount": ...}], as sent
    amount: int  # the total: what a user pays
    thread_id: int | None = None  # the topic it was sent to (None: outside topics)
    start_parameter: str = ""
    reply_markup: Json | None = None
    deleted: bool = False  # deleted with deleteMessage: no one can pay it any more


@dataclass
class PreCheckout:
    """A pre_checkout_query pushed to the bot: a user confirmed paying an invoice."""

    query_id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    charge_id: str  # the telegram_payment_charge_id the payment gets if approved
    deadline: float  # time.monotonic() after which Telegram cancels the payment
    answer: Json | None = None  # the answerPreCheckoutQuery params Telegram accepted
    chat_id: int | None = None  # the chat of the invoice (None: a made-up query)

    @property
    def approved(self) -> bool:
        return self.answer is not None and _bool(self.answer.get("ok"))


@dataclass
class InlineQueryAsked:
    """An inline query pushed to the bot (``push_inline_query``) and its answer, if any."""

    query_id: str
    user_id: int
    query: str
    deadline: float  # time.monotonic() after which Telegram takes no answer
    answer: Json | None = None  # the answerInlineQuery params Telegram accepted

    @property
    def results(self) -> list[Json]:
        """The answer's results (none: not answered, or answered with none)."""
        return list((self.answer or {}).get("results") or [])


@dataclass
class StarPayment:
    """A completed Telegram Stars payment, by its telegram_payment_charge_id."""

    user_id: int
    charge_id: str
    currency: str
    total_amount: int
    payload: str
    message: Json  # the successful_payment message delivered to the bot
    refunded: bool = False


class Refund(NamedTuple):
    """A refunded payment: by the bot's refundStarPayment, or by Telegram (``push_refund``)."""

    user_id: int
    charge_id: str
    total_amount: int
    payload: str
    by_bot: bool


@dataclass
class InvoiceLink:
    """One createInvoiceLink call Telegram accepted (``subscription_period``: a Stars
    subscription's link, renewed every period until cancelled)."""

    url: str
    title: str
    description: str
    payload: str
    currency: str
    prices: list[Json]
    amount: int
    subscription_period: int | None = None


@dataclass
class StarSubscription:
    """A Stars subscription a user bought through a link, by its first charge id."""

    user_id: int
    first_charge_id: str
    link: InvoiceLink
    expires_at: int  # Unix time: the end of the period paid for
    charges: list[str] = field(default_factory=list)  # every period's charge id, in order
    canceled_by_bot: bool = False  # editUserStarSubscription(is_canceled=True)


# ---- parse_mode: simplified checks that raise Telegram's errors and strip the markup ------
def _entity_error(what: str, text: str = "", index: int = 0) -> TelegramError:
    where = f" at byte offset {len(text[:index].encode())}" if text else ""
    return bad_request(f"can't parse entities: {what}{where}")


_MDV2 = re.compile(
    r"\\([\x01-\x7e])|```(?:[^\n`]*\n)?((?:\\.|[^`\\])*)```|`((?:\\.|[^`\\])*)`"
    r"|(\]\([^)]*\))|(?m:^(?:\*\*)?>)|(__|\|\||[*_~\[\]])|([()#+\-=|{}.!>`\\])",
    re.S,
)
_MDV2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough"}
_MDV2_NAMES |= {"||": "Spoiler", "[": "TextUrl"}


def _reserved(char: str) -> TelegramError:
    return _entity_error(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def _markdown_v2(text: str) -> str:
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    pos = 0
    for m in _MDV2.finditer(text):
        out.append(text[pos : m.start()])
        pos, kind = m.end(), m.lastindex
        if kind == 1:  # escaped character
            out.append(m[1])
        elif kind in (2, 3):  # pre / code: only \` and \\ are escapes inside
            out.append(re.sub(r"\\([\\`])", r"\1", m[kind]))
        elif kind == 4 or (kind == 5 and m[5] == "]"):  # end of [text](url)
            if not stack or stack[-1][0] != "[":
                raise _reserved("]")
            stack.pop()
        elif kind == 5:  # formatting marker: toggles
            if stack and stack[-1][0] == m[5] != "[":
                stack.pop()
            elif m[5] == "||" and text[m.end() : m.end() + 1] in ("", "\n"):
                pass  # end of an expandable blockquote
            else:
                stack.append((m[5], m.start()))
        elif kind == 6:
            raise _reserved(m[6])
    if stack:
        mark, index = stack[-1]
        raise _entity_error(f"Can't find end of {_MDV2_NAMES[mark]} entity", text, index)
    return "".join([*out, text[pos:]])


_HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji", "tg-time",
})  # fmt: skip


def _html(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in re.finditer(r"<(/?)([^\s>/]*)[^>]*(>?)", text):
        out.append(html.unescape(text[pos : m.start()]))
        pos = m.end()
        closing, name = m[1], m[2].lower()
        if not m[3]:
            raise _entity_error("Unclosed start tag", text, m.start())
        if not closing and name not in _HTML_TAGS:
            raise _entity_error(f'Unsupported start tag "{name}"', text, m.start())
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            raise _entity_error(f'Unmatched end tag "{name}"', text, m.start())
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join([*out, html.unescape(text[pos:])])


_MD = re.compile(
    r"\\([_*`\[])|```(?:[^\n`]*\n)?(.*?)```|`([^`]*)`|\*([^*]*)\*|_([^_]*)_"
    r"|\[([^\]]*)\](?:\([^)]*\))?|([_*`\[])",
    re.S,
)


def _markdown(text: str) -> str:
    def strip(m: re.Match[str]) -> str:
        if m.lastindex == 7:
            raise _entity_error("Can't find end of the entity starting", text, m.start())
        return m[m.lastindex or 0]

    return _MD.sub(strip, text)


_RICH_INLINE = re.compile(
    r"\\([!-/:-@\[-`{-~])"  # a backslash escape: the punctuation itself
    r"|`([^`\n]+)`"  # inline code
    r"|\*\*(.+?)\*\*|__(.+?)__|~~(.+?)~~"  # bold, underline/bold, strikethrough
    r"|(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?!\w)"  # italic with stars
    r"|(?<!\w)_(?!\s)([^_\n]+?)(?<!\s)_(?!\w)"  # italic with underscores (not in_words)
    r"|\[([^\]\n]+)\]\([^)\s]+\)",  # a link: its text
    re.DOTALL,
)


def render_rich_markdown(markdown: str) -> str:
    """The text a rich message shows for its Markdown: markers gone, escapes applied,
    headings without their #, fences without their ``` lines, code kept verbatim."""
    shown: list[str] = []
    in_code = False
    for line in markdown.split("\n"):
        if line.strip().startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code:
            shown.append(line)
            continue
        line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)
        previous = None
        while previous != line:  # nested markers: **_both_**
            previous = line
            line = _RICH_INLINE.sub(lambda m: next(g for g in m.groups() if g is not None), line)
        shown.append(line)
    return "\n".join(shown).strip()


def _check_entities(text: str, entities: Any) -> list[Json] | None:
    if not entities:
        return None
    if not isinstance(entities, list):
        raise bad_request("can't parse entities JSON object")
    size = utf16_len(text)
    for e in entities:
        if not isinstance(e, dict) or e.get("type") not in ENTITY_TYPES:
            raise bad_request("can't parse MessageEntity: Unsupported type specified")
        offset, length = e.get("offset"), e.get("length")
        if not (isinstance(offset, int) and isinstance(length, int)):
            raise bad_request('can\'t parse MessageEntity: Field "offset" must be a Number')
        if offset < 0 or length < 1 or offset + length > size:
            raise _entity_error(
                f"{e['type']} entity [{offset}, {offset + length}) is outside the text "
                f"of {size} UTF-16 code units"
            )
    return [dict(e) for e in entities]


def _strip(text: str, entities: list[Json] | None) -> tuple[str, list[Json] | None]:
    """Telegram trims surrounding whitespace from texts and clips entities to match."""
    stripped = text.strip()
    if entities is None or stripped == text:
        return stripped, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    clipped: list[Json] = []
    for e in entities:
        start, end = max(e["offset"] - lead, 0), min(e["offset"] + e["length"] - lead, size)
        if end > start:
            clipped.append({**e, "offset": start, "length": end - start})
    return stripped, clipped or None


def _bool(value: Any) -> bool:
    """A Bot API boolean parameter: JSON true, or "true" / "1" in a form."""
    return value is True or str(value).lower() in ("true", "1")


def _required_str(params: Json, key: str) -> str:
    """A string parameter the Bot API requires non-empty."""
    value = params.get(key)
    if value is None or value == "":
        raise bad_request(f'parameter "{key}" is required')
    return value if isinstance(value, str) else json.dumps(value)


def _labeled_prices(value: Any) -> list[Json]:
    """The ``prices`` of an invoice: LabeledPrice objects with integer amounts."""
    if isinstance(value, str):  # not valid JSON, or _read_params would have decoded it
        raise bad_request("can't parse prices JSON object")
    if not isinstance(value, list):
        raise bad_request("expected an Array of LabeledPrice")
    prices: list[Json] = []
    for price in value:
        if not isinstance(price, dict):
            raise bad_request("can't parse LabeledPrice: expected an Object")
        label, amount = price.get("label"), price.get("amount")
        if not isinstance(label, str):
            raise bad_request('can\'t parse LabeledPrice: Field "label" must be of type String')
        if isinstance(amount, str) and re.fullmatch(r"-?\d+", amount):
            amount = int(amount)
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise bad_request('can\'t parse LabeledPrice: Field "amount" must be a valid Number')
        prices.append({"label": label, "amount": amount})
    return prices


def new_charge_id() -> str:
    """A telegram_payment_charge_id as Telegram makes them for Stars: "stx" and ~100
    URL-safe characters, unique."""
    return "stx" + secrets.token_urlsafe(72)


def _int(params: Json, key: str, missing: str | None = None) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        if missing is not None:
            raise bad_request(missing)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {key} specified") from None


class FakeTelegram:
    """The Bot API over loopback HTTP: ``async with FakeTelegram() as tg: ...``."""

    def __init__(self, *, username: str = "test_bot", max_poll_seconds: float = 1.0) -> None:
        # The id follows the numeric prefix of the token the bot calls with, as on Telegram.
        self.bot_user: Json = {"id": 42, "is_bot": True, "first_name": "TestBot"}
        self.bot_user["username"] = username
        self.max_poll_seconds = max_poll_seconds
        self.base_url = ""
        self.calls: list[Call] = []
        self.sent: list[SentMessage] = []
        self.documents: list[SentDocument] = []
        self.photos: list[SentPhoto] = []  # sendPhoto, in order
        self.voices: list[SentVoice] = []  # sendVoice, in order
        self.files: dict[str, HostedFile] = {}  # by file_id
        self.downloads: list[str] = []  # file paths served by /file/bot<token>/<path>
        # Tokens Telegram answers 401 Unauthorized for (revoked, or mistyped after the id).
        self.revoked_tokens: set[str] = set()
        self.failed_downloads: list[str] = []  # file paths refused by an injected fault
        self._download_faults: list[TelegramError] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.actions: list[SentAction] = []  # the same, with each action's topic
        self.callback_answers: dict[str, Json] = {}  # answerCallbackQuery params by query id
        self._next_callback_id = 1
        # Telegram Stars payments (see the module docstring).
        self.invoices: list[SentInvoice] = []
        self.pre_checkouts: dict[str, PreCheckout] = {}  # every pushed query, by id
        self.pre_checkout_answers: dict[str, Json] = {}  # accepted answers' params, by id
        self.payments: dict[str, StarPayment] = {}  # completed payments, by charge id
        self.refunds: list[Refund] = []
        self.pre_checkout_timeout = PRE_CHECKOUT_TIMEOUT  # seconds the bot has to answer
        # Inline queries pushed (``push_inline_query``), by id, answered or not.
        self.inline_queries: dict[str, InlineQueryAsked] = {}
        self.inline_query_timeout = INLINE_QUERY_TIMEOUT  # seconds the bot has to answer
        # Telegram follows a refund with a refunded_payment message (Bot API 7.10+).
        self.refund_messages = True
        # Invoice links (createInvoiceLink) by URL; subscriptions bought through them, by
        # first charge id; each accepted editUserStarSubscription's params, in order.
        self.invoice_links: dict[str, InvoiceLink] = {}
        self.star_subscriptions: dict[str, StarSubscription] = {}
        self.subscription_edits: list[Json] = []
        self._link_queries: dict[str, InvoiceLink] = {}  # pre-checkout query id -> link
        self.commands: list[Json] = []  # the default scope, for every language
        # setChatMenuButton: by chat id (None: the default for every private chat).
        self.menu_buttons: dict[int | None, Json] = {}
        self.scoped_commands: dict[str, list[Json]] = {}  # by JSON scope (every language)
        # By (JSON scope, language_code or ""): what each app language is shown.
        self.localized_commands: dict[tuple[str, str], list[Json]] = {}
        # setMyDescription / setMyShortDescription, by language_code ("" for the default).
        self.descriptions: dict[str, str] = {}
        self.drafts: list[Draft] = []
        # Chats whose privacy settings refuse rich messages (sendRichMessage: 400).
        self.rich_refused_chats: set[int] = set()
        self.short_descriptions: dict[str, str] = {}
        # The webhook as Telegram keeps it: set by setWebhook, cleared by deleteWebhook (or
        # setWebhook with an empty url); while set, getUpdates is refused with 409.
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self._queue: list[Json] = []
        self._next_update_id = 1
        self._allowed: frozenset[str] | None = None  # None: Telegram's default set
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._message_ids: dict[int, int] = defaultdict(int)  # shared by bot and users
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._incoming: set[tuple[int, int]] = set()
        self._invoice_messages: dict[tuple[int, int], SentInvoice] = {}  # undeleted ones
        self._chats: dict[int, Json] = {}  # as introduced by make_message
        # A private chat takes a user's first message to the bot (/start) to exist; until
        # then writing to it is refused, as it is after they block the bot.
        self.started: set[int] = set()  # users who have written to the bot privately
        self.blocked_by: set[int] = set()  # users who have blocked the bot
        self._users_seen: set[int] = set()  # anywhere: a group, a button press
        # Members of each group: those who wrote in it (``make_message``), ``add_member``.
        self.members: dict[int, set[int]] = defaultdict(set)
        self.ephemeral: list[SentEphemeral] = []  # ephemeral messages, in order
        self.ephemeral_ignored = False  # become_older_server(): the parameter is unknown
        # Open topics by chat: thread id -> name (``open_topic``). Private chats have
        # topics only once the bot enables them (``enable_topics``, BotFather's
        # "Threaded Mode"); a private chat refuses any other thread id, as do forum groups.
        self.topics: dict[int, dict[int, str]] = defaultdict(dict)
        # Group administrators by chat (``make_admin``): getChatMember says "administrator"
        # for them, "creator" for ``creators``, "member" for anyone seen in the group.
        self.admins: dict[int, set[int]] = defaultdict(set)
        self.creators: dict[int, int] = {}
        self._faults: dict[str, list[TelegramError]] = defaultdict(list)
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[Json], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deleteephemeralmessage": self._delete_ephemeral_message,
            "deletemessage": self._delete_message,
            "sendchataction": self._send_chat_action,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "sendvoice": self._send_voice,
            "getfile": self._get_file,
            "setmycommands": self._set_my_commands,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._set_my_commands,
            "sendmessagedraft": self._send_message_draft,
            "sendrichmessage": self._send_rich_message,
            "setmydescription": self._set_my_description,
            "setmyshortdescription": self._set_my_short_description,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "answercallbackquery": self._answer_callback_query,
            "sendinvoice": self._send_invoice,
            "answerprecheckoutquery": self._answer_pre_checkout_query,
            "answerinlinequery": self._answer_inline_query,
            "refundstarpayment": self._refund_star_payment,
            "createinvoicelink": self._create_invoice_link,
            "edituserstarsubscription": self._edit_user_star_subscription,
            "getchatmember": self._get_chat_member,
            "close": self._ok,
            "logout": self._ok,
        }

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Start serving on a free loopback port (``async with`` does this for you)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            handler_cancellation=True,  # a client hanging up cancels its long poll
            shutdown_timeout=1.0,
            access_log=None,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def close(self) -> None:
        """Stop serving; safe to call twice."""
        self._closing = True
        self._wake()  # pending long polls return at once
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- HTTP plumbing ------------------------------------------------------------------
    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        hosted = next((f for f in self.files.values() if f.file_path == path), None)
        if hosted is None or request.method != "GET":
            return TelegramError(404, "Not Found").response()
        if self._download_faults:  # only a real file's download is failed on purpose
            self.failed_downloads.append(path)
            return self._download_faults.pop(0).response()
        self.downloads.append(path)
        return web.Response(body=hosted.data, content_type="application/octet-stream")

    async def _get_file(self, params: Json) -> Json:
        hosted = self.files.get(str(params.get("file_id") or ""))
        if hosted is None:
            raise bad_request("invalid file_id")
        if len(hosted.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return {
            "file_id": hosted.file_id, "file_unique_id": hosted.file_unique_id,
            "file_size": len(hosted.data), "file_path": hosted.file_path,
        }  # fmt: skip

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.match_info["token"]
        if token in self.revoked_tokens:  # revoked in @BotFather, or a typo in its secret
            self.calls.append(Call(method, {}, time.monotonic()))
            return TelegramError(401, "Unauthorized").response()
        if ":" not in token:  # not a token at all: Telegram does not know the path
            return TelegramError(404, "Not Found").response()
        bot_id = token.split(":")[0]
        if bot_id.isdigit():  # as on Telegram, a bot's id is its token's prefix
            self.bot_user["id"] = int(bot_id)
        try:
            params = await self._read_params(request)
        except TelegramError as error:
            self.calls.append(Call(method, {}, time.monotonic()))
            return error.response()
        self.calls.append(Call(method, params, time.monotonic()))
        try:
            if self._faults.get(method.lower()):
                raise self._faults[method.lower()].pop(0)
            handler = self._methods.get(method.lower())
            if handler is None:
                raise TelegramError(404, "Not Found: method not found")
            result = await handler(params)
        except TelegramError as error:
            return error.response()
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> Json:
        params: Json = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON encoded request body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON request body must be an object")
            params.update(body)
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    params[key] = Upload(value.filename, value.content_type, value.file.read())
                else:
                    params[key] = value if isinstance(value, str) else bytes(value).decode()
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.pop(value.removeprefix("attach://"), value)
            elif isinstance(value, str) and key in JSON_FIELDS:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    raise bad_request(f"can't parse {key} JSON object") from None
        return params

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] += 1
        return self._message_ids[chat_id]

    def _formatted(
        self, params: Json, key: str, limit: int, *, allow_empty: bool = False
    ) -> tuple[str, list[Json] | None]:
        """Read text or caption as Telegram does; a non-empty parse_mode wins over entities.

        `allow_empty`: a draft's empty text shows the "Thinking…" placeholder."""
        raw = params.get(key)
        raw = raw if isinstance(raw, str) else ""
        mode = str(params.get("parse_mode") or "").lower()
        entities: list[Json] | None = None
        if raw and mode and mode != "none":
            parsers = {"markdownv2": _markdown_v2, "html": _html, "markdown": _markdown}
            if mode not in parsers:
                raise bad_request("unsupported parse_mode")
            text = parsers[mode](raw)
        else:
            entities_key = "entities" if key == "text" else "caption_entities"
            text, entities = raw, _check_entities(raw, params.get(entities_key))
        text, entities = _strip(text, entities)
        if key == "text" and not text and not allow_empty:
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request(f"message {'is' if key == 'text' else 'caption is'} too long")
        return text, entities

    def _message(
        self, chat_id: int, message_id: int, thread_id: int | None = None, **fields: Any
    ) -> Json:
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        chat = self._chats.get(chat_id, chat)
        message = {"message_id": message_id, "from": self.bot_user, "chat": chat}
        message["date"] = int(time.time())
        if thread_id is not None:  # sent into a topic
            message |= {"message_thread_id": thread_id, "is_topic_message": True}
        return message | {k: v for k, v in fields.items() if v is not None}

    def _sent_json(self, rec: SentMessage, **extra: Any) -> Json:
        markup = (
            rec.reply_markup if rec.reply_markup and "inline_keyboard" in rec.reply_markup else None
        )
        fields = {"text": rec.text, "entities": rec.entities, "reply_markup": markup, **extra}
        return self._message(rec.chat_id, rec.message_id, rec.thread_id, **fields)

    # ---- Bot API methods ----------------------------------------------------------------
    async def _ok(self, params: Json) -> bool:
        return True

    async def _get_me(self, params: Json) -> Json:
        return self.bot_user

    async def _get_updates(self, params: Json) -> list[Json]:
        if self.webhook_url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset, limit, timeout = (_int(params, k) for k in ("offset", "limit", "timeout"))
        if "allowed_updates" in params:
            self._allowed = frozenset(params["allowed_updates"] or ()) or None
        if offset is not None and offset < 0:
            del self._queue[:offset]  # keep only the last -offset updates
        elif offset is not None:  # confirms every update below offset
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older long poll still waiting is terminated with 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(timeout or 0, 0), self.max_poll_seconds)
        while True:
            if self.webhook_url:  # set meanwhile: updates now go to the webhook
                return []
            self._queue = [u for u in self._queue if self._is_allowed(u)]
            batch = self._queue[: min(max(limit or 100, 1), 100)]
            if batch or self._closing or loop.time() >= deadline:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            if generation != self._poll_generation:
                raise TelegramError(409, POLL_CONFLICT)

    def _is_allowed(self, update: Json) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._allowed is None:
            return kind not in NOT_DEFAULT_UPDATES
        return kind in self._allowed

    def _message_key(self, params: Json, text: str, entities: list[Json] | None) -> tuple[str, ...]:
        raw = str(params.get("text")) if params.get("parse_mode") else ""
        markup = json.dumps(params.get("reply_markup"), sort_keys=True)
        return text, json.dumps(entities, sort_keys=True), raw, markup

    def _check_can_write(self, chat_id: int) -> None:
        """A user's private chat (a positive id) only once they started, and not blocked."""
        if chat_id <= 0:
            return
        if chat_id in self.blocked_by:
            raise TelegramError(403, BLOCKED)
        if chat_id not in self.started:
            if chat_id in self._users_seen:
                raise TelegramError(403, CANT_INITIATE)
            raise TelegramError(400, CHAT_NOT_FOUND)

    def _thread(self, params: Json, chat_id: int) -> int | None:
        """The message_thread_id a method was given (None: none, or 0, the main chat).

        A private chat has only the topics opened in it; so has a forum group (one with
        topics opened here). Any other thread id there is refused, as Telegram does. Other
        groups' threads (replies in discussion groups) are taken as given."""
        thread_id = _int(params, "message_thread_id")
        if not thread_id:
            return None
        open_topics = self.topics.get(chat_id, {})
        if thread_id not in open_topics and (chat_id > 0 or open_topics):
            raise TelegramError(400, THREAD_NOT_FOUND)
        return thread_id

    async def _send_message(self, params: Json) -> Json:
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        if params.get("ephemeral_message_parameters") and not self.ephemeral_ignored:
            return self._send_ephemeral(params, chat_id)
        self._check_can_write(chat_id)
        thread_id = self._thread(params, chat_id)
        text, entities = self._formatted(params, "text", 4096)
        self._check_markup(chat_id, params.get("reply_markup"))
        rec = SentMessage(chat_id, self._next_message_id(chat_id), text, entities, None)
        rec.thread_id = thread_id
        rec.parse_mode, rec.reply_markup = params.get("parse_mode"), params.get("reply_markup")
        rec.key = self._message_key(params, text, entities)
        self.sent.append(rec)
        self._messages[chat_id, rec.message_id] = rec
        return self._sent_json(rec)

    def _send_ephemeral(self, params: Json, chat_id: int) -> Json:
        """sendMessage with ephemeral_message_parameters: shown to one group member."""
        options = params["ephemeral_message_parameters"]
        if not isinstance(options, dict):
            raise bad_request("can't parse ephemeral message parameters JSON object")
        receiver = _int(options, "receiver_user_id", "receiver_user_id is empty") or 0
        if chat_id >= 0 or chat_id not in self._chats:
            raise bad_request("EPHEMERAL_PEER_INVALID")  # groups and supergroups only
        if receiver not in self.members[chat_id]:
            raise bad_request("USER_NOT_PARTICIPANT")
        thread_id = self._thread(params, chat_id)
        text, entities = self._formatted(params, "text", 4096)
        self._check_markup(chat_id, params.get("reply_markup"))
        number = 1 + sum(1 for e in self.ephemeral if e.chat_id == chat_id)
        self.ephemeral.append(SentEphemeral(chat_id, receiver, number, text, thread_id))
        user = {"id": receiver, "is_bot": False, "first_name": "User"}
        return self._message(
            chat_id, 0, thread_id, text=text, entities=entities, ephemeral_message_id=number,
            receiver_user=user,
        )  # fmt: skip

    async def _delete_ephemeral_message(self, params: Json) -> bool:
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        receiver = _int(params, "receiver_user_id", "receiver_user_id is empty")
        number = _int(params, "ephemeral_message_id", "ephemeral_message_id is empty")
        for sent in self.ephemeral:
            if (sent.chat_id, sent.receiver_user_id, sent.ephemeral_message_id) == (
                chat_id, receiver, number,
            ) and not sent.deleted:  # fmt: skip
                sent.deleted = True
                return True
        raise bad_request("message to delete not found")

    async def _edit_message_reply_markup(self, params: Json) -> Json:
        (chat_id, _), rec = self._find(params, "edit")
        if rec is None:
            raise bad_request("message can't be edited")
        markup = params.get("reply_markup") or None
        self._check_markup(chat_id, markup)
        if json.dumps(markup, sort_keys=True) == json.dumps(rec.reply_markup, sort_keys=True):
            raise TelegramError(400, NOT_MODIFIED)
        rec.reply_markup = markup
        rec.key = (*rec.key[:3], json.dumps(markup, sort_keys=True))
        return self._sent_json(rec, edit_date=int(time.time()))

    def become_older_server(self) -> None:
        """Answer like a self-hosted Bot API server older than 10.x: no drafts, no rich
        messages, no ephemeral messages (404 "method not found", as for any unknown
        method; sendMessage ignores ephemeral_message_parameters and posts for all)."""
        for method in (
            "sendmessagedraft", "sendrichmessage", "sendrichmessagedraft",
            "deleteephemeralmessage",
        ):  # fmt: skip
            self._methods.pop(method, None)
        self.ephemeral_ignored = True

    async def _send_message_draft(self, params: Json) -> bool:
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        if chat_id <= 0:  # drafts exist in private chats only
            raise bad_request("TEXTDRAFT_PEER_INVALID")
        self._check_can_write(chat_id)
        thread_id = self._thread(params, chat_id)
        draft_id = _int(params, "draft_id", "draft_id is empty")
        if not draft_id:
            raise bad_request("DRAFT_ID_INVALID")
        text, _entities = self._formatted(params, "text", 4096, allow_empty=True)
        can_stop = params.get("can_stop") in (True, "true", "True")
        self.drafts.append(Draft(chat_id, draft_id, text, can_stop, thread_id))
        return True

    async def _send_rich_message(self, params: Json) -> Json:
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        self._check_can_write(chat_id)
        thread_id = self._thread(params, chat_id)
        rich = params.get("rich_message")
        if isinstance(rich, str):
            rich = json.loads(rich)
        if not isinstance(rich, dict):
            raise bad_request("rich_message is empty")
        given = [k for k in ("html", "markdown", "blocks") if rich.get(k)]
        if len(given) != 1:
            raise bad_request("exactly one of html, markdown and blocks must be used")
        if chat_id in self.rich_refused_chats:
            raise bad_request("RICH_MESSAGE_FORBIDDEN")
        source = rich[given[0]]
        # Shown as Telegram shows it: surrounding white space trimmed.
        text = source.strip() if isinstance(source, str) else json.dumps(source)
        if not text:
            raise bad_request("message text is empty")
        if len(text) > RICH_MESSAGE_CHARS:
            raise bad_request("RICH_MESSAGE_TOO_LONG")
        if count_rich_blocks(source) > RICH_MESSAGE_BLOCKS:
            raise bad_request("RICH_MESSAGE_TOO_MANY_BLOCKS")
        shown = render_rich_markdown(text) if given[0] == "markdown" else text
        rec = SentMessage(chat_id, self._next_message_id(chat_id), shown, None, None, rich=True)
        rec.markdown, rec.reply_markup = text, params.get("reply_markup")
        rec.thread_id = thread_id
        self.sent.append(rec)
        self._messages[chat_id, rec.message_id] = rec
        return self._sent_json(rec)

    def _find(self, params: Json, action: str) -> tuple[tuple[int, int], SentMessage | None]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        message_id = _int(params, "message_id", "message identifier is not specified") or 0
        rec = self._messages.get((chat_id, message_id))
        known = (chat_id, message_id) in self._incoming or (chat_id, message_id) in (
            self._invoice_messages
        )
        if rec is None and not known:
            raise bad_request(f"message to {action} not found")
        return (chat_id, message_id), rec

    async def _edit_message_text(self, params: Json) -> Json:
        _, rec = self._find(params, "edit")
        if rec is None:
            raise bad_request("message can't be edited")
        text, entities = self._formatted(params, "text", 4096)
        key = self._message_key(params, text, entities)
        if key == rec.key:
            raise TelegramError(400, NOT_MODIFIED)
        rec.text, rec.entities, rec.key = text, entities, key
        rec.parse_mode, rec.reply_markup = params.get("parse_mode"), params.get("reply_markup")
        rec.edits.append(text)
        return self._sent_json(rec, edit_date=int(time.time()))

    async def _delete_message(self, params: Json) -> bool:
        where, rec = self._find(params, "delete")
        if rec is not None:
            rec.deleted = True
        self._messages.pop(where, None)
        self._incoming.discard(where)
        invoice = self._invoice_messages.pop(where, None)
        if invoice is not None:
            invoice.deleted = True
        return True

    async def _send_chat_action(self, params: Json) -> bool:
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._check_can_write(chat_id)
        thread_id = self._thread(params, chat_id)
        self.chat_actions.append((chat_id, params["action"]))
        self.actions.append(SentAction(chat_id, thread_id, params["action"]))
        return True

    def _file_target(self, params: Json) -> tuple[int, int | None]:
        """Where a file (document, photo, voice) goes: a chat the bot may write to, and its
        topic."""
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        self._check_can_write(chat_id)
        return chat_id, self._thread(params, chat_id)

    async def _send_document(self, params: Json) -> Json:
        chat_id, thread_id = self._file_target(params)
        document = params.get("document")
        if not document:
            raise bad_request("there is no document in the request")
        upload = document if isinstance(document, Upload) else Upload(None, "", b"")
        if isinstance(document, Upload) and not upload.data:
            raise bad_request("file must be non-empty")
        caption, entities = self._formatted(params, "caption", 1024)
        message_id = self._next_message_id(chat_id)
        self.documents.append(
            SentDocument(
                chat_id, message_id, upload.filename, upload.data, caption or None, thread_id
            )
        )
        file: Json = {"file_id": f"doc-{message_id}", "file_unique_id": f"udoc-{message_id}"}
        file |= {"file_name": upload.filename, "mime_type": upload.content_type or None}
        file |= {"file_size": len(upload.data)}
        return self._message(
            chat_id, message_id, thread_id,
            document={k: v for k, v in file.items() if v is not None},
            caption=caption or None, caption_entities=entities,
        )  # fmt: skip

    async def _send_photo(self, params: Json) -> Json:
        """A photo: uploaded (multipart, non-empty) or an http(s) URL Telegram fetches."""
        chat_id, thread_id = self._file_target(params)
        photo = params.get("photo")
        if not photo:
            raise bad_request("there is no photo in the request")
        url = None
        if isinstance(photo, Upload):
            if not photo.data:
                raise bad_request("file must be non-empty")
            data = photo.data
        elif isinstance(photo, str) and photo.startswith(("http://", "https://")):
            url, data = photo, b""
        else:
            raise bad_request("wrong remote file identifier specified: can't unserialize it")
        caption, entities = self._formatted(params, "caption", 1024)
        message_id = self._next_message_id(chat_id)
        self.photos.append(SentPhoto(chat_id, message_id, data, url, caption or None, thread_id))
        size: Json = {"file_id": f"photo-{message_id}", "file_unique_id": f"uphoto-{message_id}"}
        size |= {"width": 1, "height": 1, "file_size": len(data)}
        return self._message(
            chat_id, message_id, thread_id, photo=[size], caption=caption or None,
            caption_entities=entities,
        )  # fmt: skip

    async def _send_voice(self, params: Json) -> Json:
        """A voice message: an uploaded, non-empty OGG/Opus file (multipart)."""
        chat_id, thread_id = self._file_target(params)
        voice = params.get("voice")
        if not isinstance(voice, Upload):
            raise bad_request("there is no voice in the request")
        if not voice.data:
            raise bad_request("file must be non-empty")
        if not voice.data.startswith(b"OggS"):
            raise bad_request("wrong file type: a voice message must be OGG/Opus")
        message_id = self._next_message_id(chat_id)
        self.voices.append(SentVoice(chat_id, message_id, voice.data, thread_id))
        file: Json = {"file_id": f"voice-{message_id}", "file_unique_id": f"uvoice-{message_id}"}
        file |= {"duration": 1, "mime_type": "audio/ogg", "file_size": len(voice.data)}
        return self._message(chat_id, message_id, thread_id, voice=file)

    def _check_markup(self, chat_id: int, markup: Any) -> None:
        """Inline buttons as Telegram checks them: a Mini App (web_app) button only in a
        private chat, and only with an https URL."""
        if isinstance(markup, str):
            markup = json.loads(markup)
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard") or ():
            for button in row:
                web_app = button.get("web_app")
                if web_app is None:
                    continue
                if chat_id <= 0:
                    raise bad_request("BUTTON_TYPE_INVALID")
                if not str(web_app.get("url", "")).startswith("https://"):
                    raise bad_request("BUTTON_URL_INVALID")

    async def _set_chat_menu_button(self, params: Json) -> bool:
        """setChatMenuButton: without chat_id, the default for every private chat."""
        button = params.get("menu_button") or {"type": "default"}
        if isinstance(button, str):
            button = json.loads(button)
        kind = button.get("type")
        if kind not in ("default", "commands", "web_app"):
            raise bad_request("can't parse menu button: unknown type")
        if kind == "web_app":
            url = str((button.get("web_app") or {}).get("url", ""))
            if not url.startswith("https://"):
                raise bad_request("BUTTON_URL_INVALID")
            if not 1 <= len(str(button.get("text", ""))) <= 64:
                raise bad_request("BUTTON_TEXT_INVALID")
        chat_id = params.get("chat_id")
        self.menu_buttons[int(chat_id) if chat_id is not None else None] = dict(button)
        return True

    async def _get_chat_menu_button(self, params: Json) -> Json:
        chat_id = params.get("chat_id")
        key = int(chat_id) if chat_id is not None else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "commands"}

    async def _set_my_commands(self, params: Json) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        scope = params.get("scope") or {"type": "default"}
        language = self._language_code(params)
        key = json.dumps(scope, sort_keys=True)
        self.localized_commands[key, language] = [dict(c) for c in commands]
        if language == "":
            self.scoped_commands[key] = [dict(c) for c in commands]
            if scope == {"type": "default"}:
                self.commands = [dict(c) for c in commands]  # deleteMyCommands sends none
        return True

    @staticmethod
    def _language_code(params: Json) -> str:
        """A two-letter ISO 639-1 code or empty, as Telegram accepts it."""
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("LANGUAGE_CODE_INVALID")
        return language

    def _describe(self, params: Json, field: str, limit: int, kept: dict[str, str]) -> bool:
        """setMyDescription (512 characters) and setMyShortDescription (120)."""
        text = str(params.get(field) or "")
        if len(text) > limit:
            raise bad_request(f"BOT_{field.upper()}_INVALID")
        kept[self._language_code(params)] = text
        return True

    async def _set_my_description(self, params: Json) -> bool:
        return self._describe(params, "description", 512, self.descriptions)

    async def _set_my_short_description(self, params: Json) -> bool:
        return self._describe(params, "short_description", 120, self.short_descriptions)

    async def _get_my_commands(self, params: Json) -> list[Json]:
        return self.commands

    async def _set_webhook(self, params: Json) -> bool:
        url = str(params.get("url") or "")
        if not url:  # "Use an empty string to remove webhook integration"
            return await self._delete_webhook(params)
        if not url.lower().startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        self.webhook_secret = str(params["secret_token"]) if params.get("secret_token") else None
        allowed = params.get("allowed_updates")
        self.webhook_allowed_updates = list(allowed) if isinstance(allowed, list) else None
        self._drop_pending(params)
        self._wake()  # a waiting long poll returns; the next getUpdates is refused
        return True

    async def _delete_webhook(self, params: Json) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        self.webhook_allowed_updates = None
        self._drop_pending(params)
        return True

    def _drop_pending(self, params: Json) -> None:
        if str(params.get("drop_pending_updates")).lower() == "true":
            self._queue.clear()

    async def _get_webhook_info(self, params: Json) -> Json:
        info: Json = {"url": self.webhook_url, "has_custom_certificate": False}
        info["pending_update_count"] = len(self._queue)
        if self.webhook_url:
            info["max_connections"] = 40  # Telegram's default
            if self.webhook_allowed_updates is not None:
                info["allowed_updates"] = self.webhook_allowed_updates
        return info

    async def _get_chat_member(self, params: Json) -> Json:
        """A member's status in a group, as Telegram reports it (ChatMember*)."""
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        if chat_id > 0:
            raise TelegramError(400, "Bad Request: there is no chat members in a private chat")
        if chat_id not in self._chats:
            raise TelegramError(400, CHAT_NOT_FOUND)
        user = {"id": user_id, "is_bot": False, "first_name": "User"}
        if self.creators.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self.admins[chat_id]:
            rights = {name: True for name in ADMIN_RIGHTS} | {"is_anonymous": False}
            return {"status": "administrator", "user": user, "can_be_edited": False} | rights
        return {"status": "member", "user": user}

    def make_admin(self, chat_id: int, user_id: int, *, creator: bool = False) -> None:
        """Make a member an administrator (or the creator) of a group."""
        if creator:
            self.creators[chat_id] = user_id
        else:
            self.admins[chat_id].add(user_id)

    async def _answer_callback_query(self, params: Json) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id or query_id in self.callback_answers:  # a query is answered once
            raise TelegramError(400, QUERY_ID_INVALID)
        self.callback_answers[query_id] = params
        return True

    # ---- payments (Telegram Stars) ------------------------------------------------------
    async def _send_invoice(self, params: Json) -> Json:
        """sendInvoice, for digital goods: Telegram Stars only, as Telegram requires."""
        chat_id = _int(params, "chat_id", "chat_id is empty") or 0
        title = _required_str(params, "title")
        description = _required_str(params, "description")
        payload = _required_str(params, "payload")
        currency = _required_str(params, "currency")
        if params.get("prices") in (None, ""):
            raise bad_request('parameter "prices" is required')
        prices = _labeled_prices(params["prices"])
        self._check_can_write(chat_id)
        thread_id = self._thread(params, chat_id)
        total = sum(p["amount"] for p in prices)
        if any(abs(p["amount"]) > MAX_CURRENCY_AMOUNT for p in prices):  # < 0: a discount
            raise bad_request("too big amount of the currency specified")
        if total <= 0:
            raise bad_request("total price must be positive")
        if currency != STARS or params.get("provider_token"):
            # Digital goods are sold for Stars, with no provider token; no provider is
            # connected to this bot for anything else.
            raise TelegramError(400, PAYMENT_PROVIDER_INVALID)
        tips = params.get("max_tip_amount") not in (None, "", 0, "0")
        if len(prices) != 1 or tips or params.get("suggested_tip_amounts"):
            raise TelegramError(400, STARS_INVOICE_INVALID)
        if not 1 <= len(title) <= 32:
            raise bad_request("INVOICE_TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise bad_request("INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            first = (markup["inline_keyboard"][0] or [{}])[0]
            if not (isinstance(first, dict) and first.get("pay")):  # the Pay button first
                raise bad_request("REPLY_MARKUP_BUY_EMPTY")
        else:
            markup = None
        invoice = SentInvoice(
            chat_id, self._next_message_id(chat_id), title, description, payload, currency,
            prices, total, thread_id, str(params.get("start_parameter") or ""), markup,
        )  # fmt: skip
        self.invoices.append(invoice)
        self._invoice_messages[chat_id, invoice.message_id] = invoice
        shown: Json = {"title": title, "description": description, "currency": currency}
        shown |= {"start_parameter": invoice.start_parameter, "total_amount": total}
        return self._message(
            chat_id, invoice.message_id, thread_id, invoice=shown, reply_markup=markup
        )

    async def _answer_pre_checkout_query(self, params: Json) -> bool:
        ok = _bool(params.get("ok"))
        if not ok and not params.get("error_message"):
            raise bad_request('parameter "error_message" is required')
        query = self.pre_checkouts.get(str(params.get("pre_checkout_query_id") or ""))
        if query is None or query.answer is not None or time.monotonic() > query.deadline:
            raise TelegramError(400, QUERY_ID_INVALID)  # unknown, answered, or too late
        query.answer = dict(params)
        self.pre_checkout_answers[query.query_id] = query.answer
        return True

    # ---- inline mode -----------------------------------------------------------------------
    async def _answer_inline_query(self, params: Json) -> bool:
        """answerInlineQuery: one answer per query, in time, with valid results."""
        query = self.inline_queries.get(str(params.get("inline_query_id") or ""))
        if query is None or query.answer is not None or time.monotonic() > query.deadline:
            raise TelegramError(400, QUERY_ID_INVALID)  # unknown, answered, or too late
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request('parameter "results" is required')
        if len(results) > MAX_INLINE_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        ids: set[str] = set()
        for result in results:
            self._check_inline_result(result, ids)
        cache_time = _int(params, "cache_time")
        if cache_time is not None and cache_time < 0:
            raise bad_request("CACHE_TIME_INVALID")
        if len(str(params.get("next_offset") or "").encode()) > 64:
            raise bad_request("NEXT_OFFSET_INVALID")
        button = params.get("button")
        if button is not None:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            start = button.get("start_parameter")
            if (start is None) == (button.get("web_app") is None):  # exactly one of them
                raise bad_request("BUTTON_TYPE_INVALID")
            if start is not None and not START_PARAMETER.fullmatch(str(start)):
                raise bad_request("START_PARAM_INVALID")
        query.answer = dict(params)  # with its form fields as the values they stand for
        if cache_time is not None:
            query.answer["cache_time"] = cache_time
        if "is_personal" in params:
            query.answer["is_personal"] = _bool(params["is_personal"])
        return True

    def _check_inline_result(self, result: Any, ids: set[str]) -> None:
        """One InlineQueryResult as Telegram checks it (articles fully; others' ids)."""
        if not isinstance(result, dict) or result.get("type") not in INLINE_RESULT_TYPES:
            raise bad_request("can't parse inline query result: unsupported type")
        result_id = result.get("id")
        if not isinstance(result_id, str) or not 1 <= len(result_id.encode()) <= 64:
            raise bad_request("RESULT_ID_INVALID")
        if result_id in ids:
            raise bad_request("RESULT_ID_DUPLICATE")
        ids.add(result_id)
        if result["type"] != "article":
            return
        if not isinstance(result.get("title"), str) or not result["title"]:
            raise bad_request(
                'can\'t parse inline query result: Field "title" must be of type String'
            )
        content = result.get("input_message_content")
        if not isinstance(content, dict):
            raise bad_request(
                'can\'t parse inline query result: Field "input_message_content" must be of '
                "type Object"
            )
        if "message_text" in content:  # the other kinds (a location, an invoice) unchecked
            shown = {"text": content["message_text"], "entities": content.get("entities")}
            self._formatted(shown | {"parse_mode": content.get("parse_mode")}, "text", 4096)

    def push_inline_query(
        self,
        user_id: int,
        query: str,
        *,
        offset: str = "",
        chat_type: str | None = "sender",
        first_name: str = "User",
        language_code: str | None = None,
    ) -> str:
        """Queue an inline query (what the user typed after ``@bot``); returns its id.
        ``chat_type``: where it is typed ("sender" is the user's chat with the bot)."""
        query_id = str(secrets.randbelow(2**62) + 2**62)  # numeric, as on Telegram
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        user |= {"language_code": language_code} if language_code else {}
        self._users_seen.add(user_id)
        deadline = time.monotonic() + self.inline_query_timeout
        self.inline_queries[query_id] = InlineQueryAsked(query_id, user_id, query, deadline)
        update: Json = {"id": query_id, "from": user, "query": query, "offset": offset}
        update |= {"chat_type": chat_type} if chat_type else {}
        self.push_update({"inline_query": update})
        return query_id

    async def wait_inline_answer(self, query_id: str, timeout: float = 10) -> Json:  # noqa: ASYNC109
        """Wait for the bot's answer to an inline query; returns its params."""
        query = self.inline_queries[query_id]
        await self.wait_for(lambda: query.answer is not None, timeout, f"an answer to {query_id}")
        assert query.answer is not None
        return query.answer

    async def _refund_star_payment(self, params: Json) -> bool:
        user_id = _int(params, "user_id", "invalid user_id specified")
        charge_id = _required_str(params, "telegram_payment_charge_id")
        payment = self.payments.get(charge_id)
        if payment is None or payment.user_id != user_id:
            raise TelegramError(400, CHARGE_NOT_FOUND)
        if payment.refunded:
            raise TelegramError(400, CHARGE_ALREADY_REFUNDED)
        self._refund(payment, by_bot=True)
        return True

    def _refund(self, payment: StarPayment, *, by_bot: bool) -> int | None:
        payment.refunded = True
        refund = Refund(
            payment.user_id, payment.charge_id, payment.total_amount, payment.payload, by_bot
        )
        self.refunds.append(refund)
        if not self.refund_messages:
            return None
        refunded: Json = {"currency": payment.currency, "total_amount": payment.total_amount}
        refunded |= {"invoice_payload": payment.payload}
        refunded |= {"telegram_payment_charge_id": payment.charge_id}
        refunded |= {"provider_payment_charge_id": ""}
        user_id = payment.user_id
        chat = self._chats.get(user_id) or self._private_chat(user_id)
        message_id = self._next_message_id(user_id)
        message: Json = {"message_id": message_id, "from": self.bot_user, "chat": chat}
        message |= {"date": int(time.time()), "refunded_payment": refunded}
        return self.push_update({"message": message})

    @staticmethod
    def _private_chat(user_id: int, first_name: str = "User") -> Json:
        return {"id": user_id, "type": "private", "first_name": first_name}

    def pay(
        self,
        invoice: SentInvoice,
        user_id: int | None = None,
        *,
        charge_id: str | None = None,
        first_name: str = "User",
        language_code: str | None = None,
    ) -> str:
        """A user presses Pay on an invoice the bot sent and confirms: Telegram pushes a
        pre_checkout_query, which the bot must answer within ``pre_checkout_timeout``
        seconds; returns the query id (see ``complete_payment``).

        ``user_id``: who pays (default: the invoice's private chat; required in groups).
        ``charge_id``: the telegram_payment_charge_id the payment will get (default: a
        fresh one, as Telegram makes them)."""
        if invoice.deleted:
            raise AssertionError(f"invoice {invoice.message_id} was deleted: no one can pay it")
        if user_id is None:
            if invoice.chat_id <= 0:
                raise AssertionError("an invoice in a group needs the paying user_id")
            user_id = invoice.chat_id
        return self.push_pre_checkout(
            user_id, invoice.payload, invoice.amount, currency=invoice.currency,
            charge_id=charge_id, first_name=first_name, language_code=language_code,
            chat_id=invoice.chat_id,
        )  # fmt: skip

    def push_pre_checkout(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        *,
        currency: str = STARS,
        charge_id: str | None = None,
        first_name: str = "User",
        language_code: str | None = None,
        chat_id: int | None = None,
    ) -> str:
        """Queue a pre_checkout_query with any payload and amount (an invoice that is
        stale, or was never sent as is); returns the query id. ``pay`` is the usual way."""
        if charge_id is not None and charge_id in self.payments:
            raise AssertionError(f"charge {charge_id} was paid already: see push_payment_again")
        query_id = str(secrets.randbelow(2**62) + 2**62)  # numeric, as on Telegram
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        user |= {"language_code": language_code} if language_code else {}
        self._users_seen.add(user_id)
        self.pre_checkouts[query_id] = PreCheckout(
            query_id, user_id, currency, total_amount, payload, charge_id or new_charge_id(),
            time.monotonic() + self.pre_checkout_timeout, chat_id=chat_id,
        )  # fmt: skip
        query: Json = {"id": query_id, "from": user, "currency": currency}
        query |= {"total_amount": total_amount, "invoice_payload": payload}
        self.push_update({"pre_checkout_query": query})
        return query_id

    async def wait_pre_checkout_answer(self, query_id: str) -> Json:
        """Wait for the bot's answer to a pre-checkout query; returns its params. Fails
        once Telegram's deadline passes without one (Telegram cancels the payment)."""
        query = self.pre_checkouts[query_id]

        def settled() -> bool:
            return query.answer is not None or time.monotonic() > query.deadline

        remaining = max(query.deadline - time.monotonic(), 0) + 1
        await self.wait_for(settled, remaining, f"answerPreCheckoutQuery for {query_id}")
        if query.answer is None:
            raise AssertionError(
                f"no answerPreCheckoutQuery for {query_id} within {self.pre_checkout_timeout}s:"
                f" Telegram cancels the payment\n{self.dump()}"
            )
        return query.answer

    async def complete_payment(self, query_id: str) -> str | None:
        """Wait for the bot's answer to a pre-checkout query; if it approved (ok=True),
        deliver the successful_payment message in the user's private chat and return the
        telegram_payment_charge_id; if it declined, return None (the user sees its
        error_message). Fails if no answer comes in time (see ``wait_pre_checkout_answer``)."""
        query = self.pre_checkouts[query_id]
        await self.wait_pre_checkout_answer(query_id)
        if not query.approved:
            return None
        if query.charge_id in self.payments:
            raise AssertionError(f"pre-checkout query {query_id} was completed already")
        paid: Json = {"currency": query.currency, "total_amount": query.total_amount}
        paid |= {"invoice_payload": query.payload}
        paid |= {"telegram_payment_charge_id": query.charge_id}
        paid |= {"provider_payment_charge_id": ""}
        chat = self._chats.get(query.user_id, {})
        message = self.make_message(
            query.user_id, first_name=chat.get("first_name", "User"), successful_payment=paid
        )
        payment = StarPayment(
            query.user_id, query.charge_id, query.currency, query.total_amount, query.payload,
            message,
        )  # fmt: skip
        self.payments[query.charge_id] = payment
        self.push_update({"message": message})
        return query.charge_id

    async def checkout(
        self,
        invoice: SentInvoice,
        user_id: int | None = None,
        *,
        charge_id: str | None = None,
        language_code: str | None = None,
    ) -> str | None:
        """``pay`` and ``complete_payment`` in one: the charge id, or None if declined."""
        query_id = self.pay(invoice, user_id, charge_id=charge_id, language_code=language_code)
        return await self.complete_payment(query_id)

    def push_payment_again(self, charge_id: str) -> int:
        """Deliver a payment's successful_payment message once more, unchanged (a webhook
        retried, an update fetched again after a crash); returns the new update_id."""
        return self.push_update({"message": dict(self.payments[charge_id].message)})

    def push_refund(self, charge_id: str) -> int | None:
        """Telegram refunds a payment without the bot (a dispute through support): the
        refunded_payment message arrives (unless ``refund_messages`` is off), and the
        bot's own refundStarPayment then fails with CHARGE_ALREADY_REFUNDED."""
        payment = self.payments[charge_id]
        if payment.refunded:
            raise AssertionError(f"charge {charge_id} is refunded already")
        return self._refund(payment, by_bot=False)

    # ---- invoice links and Stars subscriptions -----------------------------------------
    async def _create_invoice_link(self, params: Json) -> str:
        """createInvoiceLink for digital goods: Stars only; ``subscription_period`` only
        2592000 (30 days), only in Stars, at most 10000 Stars a period."""
        title = _required_str(params, "title")
        description = _required_str(params, "description")
        payload = _required_str(params, "payload")
        currency = _required_str(params, "currency")
        if params.get("prices") in (None, ""):
            raise bad_request('parameter "prices" is required')
        prices = _labeled_prices(params["prices"])
        total = sum(p["amount"] for p in prices)
        if total <= 0 or any(abs(p["amount"]) > MAX_CURRENCY_AMOUNT for p in prices):
            raise bad_request("total price must be positive")
        period = _int(params, "subscription_period")
        if period is not None and (period != SUBSCRIPTION_PERIOD or currency != STARS):
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        if currency != STARS or params.get("provider_token"):
            raise TelegramError(400, PAYMENT_PROVIDER_INVALID)
        tips = params.get("max_tip_amount") not in (None, "", 0, "0")
        if len(prices) != 1 or tips or params.get("suggested_tip_amounts"):
            raise TelegramError(400, STARS_INVOICE_INVALID)
        if period is not None and total > MAX_SUBSCRIPTION_STARS:
            raise bad_request("SUBSCRIPTION_PRICE_INVALID")
        if not 1 <= len(title) <= 32:
            raise bad_request("INVOICE_TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise bad_request("INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        url = f"https://t.me/${secrets.token_urlsafe(12)}"
        link = InvoiceLink(url, title, description, payload, currency, prices, total, period)
        self.invoice_links[url] = link
        return url

    async def _edit_user_star_subscription(self, params: Json) -> bool:
        user_id = _int(params, "user_id", "invalid user_id specified")
        charge_id = _required_str(params, "telegram_payment_charge_id")
        if params.get("is_canceled") in (None, ""):
            raise bad_request('parameter "is_canceled" is required')
        subscription = self.star_subscriptions.get(charge_id)
        if subscription is None or subscription.user_id != user_id:
            raise TelegramError(400, CHARGE_NOT_FOUND)
        subscription.canceled_by_bot = _bool(params["is_canceled"])
        self.subscription_edits.append(dict(params))
        return True

    def pay_link(
        self, url: str, user_id: int, *, charge_id: str | None = None, first_name: str = "User"
    ) -> str:
        """A user opens an invoice link and confirms: the pre_checkout_query is pushed;
        returns its id (see ``complete_link_payment``)."""
        link = self.invoice_links[url]
        query_id = self.push_pre_checkout(
            user_id, link.payload, link.amount, currency=link.currency, charge_id=charge_id,
            first_name=first_name,
        )  # fmt: skip
        self._link_queries[query_id] = link
        return query_id

    async def complete_link_payment(self, query_id: str) -> str | None:
        """Wait for the bot's pre-checkout answer; if it approved, deliver the
        successful_payment (a subscription link's first period: is_recurring,
        is_first_recurring, subscription_expiration_date) and return its charge id."""
        query, link = self.pre_checkouts[query_id], self._link_queries[query_id]
        await self.wait_pre_checkout_answer(query_id)
        if not query.approved:
            return None
        if query.charge_id in self.payments:
            raise AssertionError(f"pre-checkout query {query_id} was completed already")
        extra: Json = {}
        if link.subscription_period is not None:
            expires = int(time.time()) + link.subscription_period
            extra = {"is_recurring": True, "is_first_recurring": True}
            extra["subscription_expiration_date"] = expires
            self.star_subscriptions[query.charge_id] = StarSubscription(
                query.user_id, query.charge_id, link, expires, [query.charge_id]
            )
        self._deliver_payment(query.user_id, query.charge_id, link, extra)
        return query.charge_id

    async def subscribe(self, url: str, user_id: int) -> str | None:
        """``pay_link`` and ``complete_link_payment`` in one: the first charge id, or None
        if the bot declined."""
        return await self.complete_link_payment(self.pay_link(url, user_id))

    def renew_subscription(self, first_charge_id: str, *, charge_id: str | None = None) -> str:
        """Telegram charges the next period (no pre-checkout): a recurring
        successful_payment with a fresh charge id and the period moved on; returns it.
        Telegram does not renew a subscription the bot cancelled."""
        subscription = self.star_subscriptions[first_charge_id]
        if subscription.canceled_by_bot:
            raise AssertionError(f"subscription {first_charge_id} was cancelled: no renewal")
        charge = charge_id or new_charge_id()
        subscription.expires_at += subscription.link.subscription_period or 0
        subscription.charges.append(charge)
        extra: Json = {"is_recurring": True}
        extra["subscription_expiration_date"] = subscription.expires_at
        self._deliver_payment(subscription.user_id, charge, subscription.link, extra)
        return charge

    def _deliver_payment(
        self, user_id: int, charge_id: str, link: InvoiceLink, extra: Json
    ) -> None:
        paid: Json = {"currency": link.currency, "total_amount": link.amount}
        paid |= {"invoice_payload": link.payload, "telegram_payment_charge_id": charge_id}
        paid |= {"provider_payment_charge_id": ""} | extra
        chat = self._chats.get(user_id, {})
        message = self.make_message(
            user_id, first_name=chat.get("first_name", "User"), successful_payment=paid
        )
        self.payments[charge_id] = StarPayment(
            user_id, charge_id, link.currency, link.amount, link.payload, message
        )
        self.push_update({"message": message})

    # ---- test helpers -------------------------------------------------------------------
    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> HostedFile:
        """Host a file a user sent (a photo size, a voice note) for getFile and download."""
        path = file_path or f"files/file_{len(self.files) + 1}"
        hosted = HostedFile(file_id, f"u-{file_id}", path, data)
        self.files[file_id] = hosted
        return hosted

    def make_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        message_id: int | None = None,
        first_name: str = "User",
        username: str | None = None,
        language_code: str | None = None,
        thread_id: int | None = None,
        **fields: Any,
    ) -> Json:
        """A user's message; extra ``fields`` (sticker, photo, caption, ...) are merged in.

        ``thread_id``: sent in that topic of the chat, which must be open (``open_topic``).
        """
        chat_id = user_id if chat_id is None else chat_id
        if thread_id is not None and thread_id not in self.topics.get(chat_id, {}):
            raise AssertionError(f"no open topic {thread_id} in chat {chat_id}")
        message_id = message_id or self._next_message_id(chat_id)
        self._message_ids[chat_id] = max(self._message_ids[chat_id], message_id)
        self._incoming.add((chat_id, message_id))
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        user |= {"username": username} if username else {}
        user |= {"language_code": language_code} if language_code else {}
        chat: Json = {"id": chat_id, "type": chat_type, "title": "Test group"}
        if chat_type == "private":
            chat = {"id": chat_id, "type": chat_type, "first_name": first_name}
            chat |= {"username": username} if username else {}
        self._chats[chat_id] = chat
        self._users_seen.add(user_id)
        if chat_type == "private" and chat_id == user_id:
            self.started.add(user_id)  # writing to the bot starts it (and undoes a block)
            self.blocked_by.discard(user_id)
        if chat_type != "private":
            self.members[chat_id].add(user_id)  # who wrote in a group is a member of it
        if chat_type != "private" and self.topics.get(chat_id):
            chat["is_forum"] = True
        message = {"message_id": message_id, "from": user, "chat": chat, "date": int(time.time())}
        if thread_id is not None:
            message |= {"message_thread_id": thread_id, "is_topic_message": True}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                size = utf16_len(text.split(maxsplit=1)[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": size}]
        return message | fields

    def push_update(self, payload: Json) -> int:
        """Queue a raw update, numbering it here; returns its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        payload = {k: v for k, v in payload.items() if k != "update_id"}
        self._queue.append({"update_id": update_id, **payload})
        self._wake()
        return update_id

    def push_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        first_name: str = "User",
        language_code: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        """Queue a text message from a user (private chat unless chat_id says otherwise);
        ``language_code`` is their Telegram app's language; ``thread_id`` an open topic."""
        kwargs: Json = {"chat_id": chat_id, "message_id": message_id, "first_name": first_name}
        kwargs |= {"language_code": language_code, "thread_id": thread_id}
        return self.push_update({"message": self.make_message(user_id, text, **kwargs)})

    def push_stop(self, user_id: int, draft_id: int) -> int:
        """The user presses Stop on a draft in their private chat."""
        chat = self._chats.get(user_id) or {"id": user_id, "type": "private", "first_name": "U"}
        event = {"chat": chat, "draft_id": draft_id}
        return self.push_update({"stopped_message_generation": event})

    def push_callback(
        self,
        user_id: int,
        data: str,
        message_id: int,
        *,
        chat_id: int | None = None,
        message_date: int | None = None,
        first_name: str = "User",
        language_code: str | None = None,
    ) -> str:
        """Queue a press of an inline button on a message the bot sent; returns the query id.

        The update carries the message as it looks now (text, entities, keyboard), as on
        Telegram. ``message_date`` backdates it (a button pressed long after the message).
        In a group (``chat_id`` the group's) every member sees the buttons and any of them
        may press one: the presser is ``user_id``, whoever the buttons were made for.
        """
        chat_id = user_id if chat_id is None else chat_id
        rec = self._messages.get((chat_id, message_id))
        if rec is None:
            raise AssertionError(f"the bot sent no message {message_id} to chat {chat_id}")
        message = self._sent_json(rec)
        if message_date is not None:
            message["date"] = message_date
        self._users_seen.add(user_id)
        query_id = f"{user_id}-{self._next_callback_id}"
        self._next_callback_id += 1
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        user |= {"language_code": language_code} if language_code else {}
        query = {"id": query_id, "from": user, "message": message, "data": data}
        query["chat_instance"] = f"ci-{chat_id}"
        self.push_update({"callback_query": query})
        return query_id

    def enable_topics(self, *, users_create_topics: bool = True) -> None:
        """The bot's owner turns on topics in private chats (BotFather's "Threaded Mode",
        Bot API 9.3): getMe reports ``has_topics_enabled``."""
        self.bot_user["has_topics_enabled"] = True
        self.bot_user["allows_users_to_create_topics"] = users_create_topics

    def open_topic(self, chat_id: int, name: str = "Topic") -> int:
        """A user creates a topic in their private chat with the bot (a group's id: a
        topic of that forum group); returns its message_thread_id, which is, as on
        Telegram, the id of the chat's "topic created" service message."""
        if chat_id > 0 and not self.bot_user.get("has_topics_enabled"):
            raise AssertionError("topics in private chats are off: call enable_topics()")
        thread_id = self._next_message_id(chat_id)
        self.topics[chat_id][thread_id] = name
        return thread_id

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """The user deletes a topic: sending into it fails from now on."""
        if self.topics.get(chat_id, {}).pop(thread_id, None) is None:
            raise AssertionError(f"no open topic {thread_id} in chat {chat_id}")

    def add_member(self, chat_id: int, *user_ids: int) -> None:
        """Users join a group without writing in it (ephemeral messages may reach them)."""
        self.members[chat_id].update(user_ids)
        self._users_seen.update(user_ids)

    def ephemeral_to(self, user_id: int, chat_id: int | None = None) -> list[str]:
        """Texts of the ephemeral messages shown to ``user_id`` (in ``chat_id``), in order."""
        return [
            e.text
            for e in self.ephemeral
            if e.receiver_user_id == user_id and chat_id in (None, e.chat_id) and not e.deleted
        ]

    def start_private_chat(self, *user_ids: int) -> None:
        """Users press Start in their private chat with the bot, without an update."""
        self._users_seen.update(user_ids)
        self.started.update(user_ids)
        self.blocked_by.difference_update(user_ids)

    def add_bot_message(
        self, chat_id: int, text: str, reply_markup: Json | None = None
    ) -> SentMessage:
        """A message the bot sent earlier (say, an older release), with its buttons."""
        rec = SentMessage(chat_id, self._next_message_id(chat_id), text, None, None)
        rec.reply_markup = reply_markup
        rec.key = (text, json.dumps(None), "", json.dumps(reply_markup, sort_keys=True))
        self.sent.append(rec)
        self._messages[chat_id, rec.message_id] = rec
        return rec

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail without taking effect."""
        if description is None and status == 429:
            description = f"Too Many Requests: retry after {retry_after}"
        if description is None:
            description = _DEFAULT_FAULTS.get(status, HTTPStatus(status).phrase)
        error = TelegramError(status, description, retry_after if status == 429 else None)
        self._faults[method.lower()].extend([error] * times)

    def fail_next_download(self, status: int = 500, *, times: int = 1) -> None:
        """Make the file server refuse the next ``times`` downloads of hosted files."""
        description = _DEFAULT_FAULTS.get(status, HTTPStatus(status).phrase)
        self._download_faults.extend([TelegramError(status, description)] * times)

    def updates_pending(self) -> int:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return len(self._queue)

    def texts(self, chat_id: int) -> list[str]:
        """Current texts of the (undeleted) messages sent to ``chat_id``, in send order."""
        return [m.text for m in self.sent if m.chat_id == chat_id and not m.deleted]

    def method_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def dump(self) -> str:
        lines = ["Telegram calls (last 30):"]
        lines += [f"  {c.method} {c.params!r:.300}" for c in self.calls[-30:]]
        lines += ["Sent messages:"]
        lines += [
            f"  chat={m.chat_id} id={m.message_id}"
            + (f" thread={m.thread_id}" if m.thread_id is not None else "")
            + f" {m.text!r:.300}"
            for m in self.sent
        ]
        if self.invoices:
            lines += ["Invoices:"]
            lines += [
                f"  chat={i.chat_id} id={i.message_id} {i.amount} {i.currency} {i.payload!r:.100}"
                for i in self.invoices
            ]
        if self.pre_checkouts:
            lines += ["Pre-checkout queries:"]
            lines += [
                f"  {q.query_id} user={q.user_id} {q.total_amount} {q.currency}"
                f" {q.payload!r:.100} answer={q.answer!r:.200}"
                for q in self.pre_checkouts.values()
            ]
        return "\n".join(lines)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10,  # noqa: ASYNC109
        what: str = "condition",
    ) -> None:
        """Poll ``predicate`` until true; on timeout fail with a dump of the traffic."""
        await poll_until(predicate, timeout, lambda: f"{what}\n{self.dump()}")

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent to ``chat_id``; returns them."""

        def current() -> list[SentMessage]:
            return [m for m in self.sent if m.chat_id == chat_id and not m.deleted]

        await self.wait_for(lambda: len(current()) >= count, timeout, f"{count} messages")
        return current()

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until no call but getUpdates has arrived for ``quiet`` seconds."""

        def idle() -> bool:
            busy = [c.at for c in self.calls if c.method.lower() != "getupdates"]
            return not busy or time.monotonic() - busy[-1] >= quiet

        await self.wait_for(idle, timeout, f"{quiet}s without bot calls")
