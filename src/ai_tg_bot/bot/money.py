"""Money updates kept until they are recorded: a Stars payment or a refund is never lost.

Telegram sends `successful_payment` and `refunded_payment` once (in polling mode a
failed update is gone; in webhook mode it is retried only for a while). So each is
written to the spool directory (PAYMENTS_SPOOL_DIR) first, then recorded: at once when
the database answers, else by a background task that retries with a back-off for as
long as the process runs (other users are not held up), and, if the process stops
first, at the next start. Recording is exactly once per telegram_payment_charge_id
(storage.payments), so a redelivery, a replay from the spool, or two instances
replaying the same file credit once. The user is told once, by whoever recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from ai_tg_bot.bot.budgets import refund_notice
from ai_tg_bot.bot.purchases import STARS, paid_notice, parse_purchase, stop_renewal
from ai_tg_bot.errors import BotError
from ai_tg_bot.i18n import _, current_language, use_language
from ai_tg_bot.storage import STORAGE_ERRORS, PaymentsStore, Refund, is_outage

log = logging.getLogger(__name__)
# The longest wait between two tries while the database is down.
MAX_PAUSE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class MoneyUpdate:
    """A payment or a refund as Telegram reported it, with where to tell the user."""

    kind: Literal["payment", "refund"]
    user_id: int
    charge_id: str
    stars: int = 0
    currency: str = STARS
    payload: str = ""
    chat_id: int = 0
    thread_id: int | None = None
    language: str | None = None
    # A subscription's payment: the end of the period paid for (Unix time), and whether
    # it is the subscription's first payment.
    expires: int | None = None
    first_period: bool = False

    @classmethod
    def of(cls, message: Message) -> MoneyUpdate | None:
        """The money update a message carries (None: none, or no sender)."""
        user = message.from_user
        if user is None:
            return None
        paid, refunded = message.successful_payment, message.refunded_payment
        if paid is not None:
            kind: Literal["payment", "refund"] = "payment"
            charge, stars, currency = (
                paid.telegram_payment_charge_id,
                paid.total_amount,
                paid.currency,
            )
            payload = paid.invoice_payload
            expires, first = paid.subscription_expiration_date, bool(paid.is_first_recurring)
        elif refunded is not None:
            kind, charge = "refund", refunded.telegram_payment_charge_id
            stars, currency = refunded.total_amount, refunded.currency
            payload = refunded.invoice_payload or ""
            expires, first = None, False
        else:
            return None
        return cls(
            kind, user.id, charge, stars, currency, payload, message.chat.id,
            message.message_thread_id if message.is_topic_message else None,
            current_language(), expires, first,
        )  # fmt: skip

    @property
    def file_name(self) -> str:
        """One file per charge and kind: a redelivery overwrites its own file."""
        digest = hashlib.sha256(self.charge_id.encode()).hexdigest()[:32]
        return f"{self.kind}-{digest}.json"

    def describe(self) -> str:
        """What the operator needs to find it: charge id, user, payload, amount."""
        return (
            f"{self.kind} charge_id={self.charge_id} user_id={self.user_id} "
            f"payload={self.payload!r} stars={self.stars}"
        )


class NotYetError(BotError):
    """A refund of a payment still waiting to be recorded: tried again later."""


class MoneyDesk:
    """Records money updates durably: spooled on disk, applied once, retried until done."""

    def __init__(
        self,
        payments: PaymentsStore,
        bot: Bot,
        spool: Path,
        *,
        max_pause_seconds: float = MAX_PAUSE_SECONDS,
    ) -> None:
        self.payments = payments
        self.bot = bot
        self.spool = spool
        self.max_pause_seconds = max_pause_seconds
        self._retrying: dict[str, asyncio.Task[None]] = {}

    @property
    def waiting(self) -> int:
        """Money updates not recorded yet (being retried in this process)."""
        return len(self._retrying)

    async def take(self, update: MoneyUpdate) -> None:
        """Keep the update on disk, then record it now or in the background."""
        path = self._write(update)
        if update.file_name in self._retrying:
            return  # a redelivery of one already being retried: that task records it
        if await self._try(update, path, first=True) == "retry":
            self._retry_later(update, path)

    def resume(self) -> int:
        """Record what an earlier run left in the spool (in the background); how many."""
        if not self.spool.is_dir():
            return 0
        found = 0
        for path in sorted(self.spool.glob("*.json")):
            update = _read(path)
            if update is None or update.file_name in self._retrying:
                continue
            log.warning("recording a money update left by an earlier run: %s", update.describe())
            self._retry_later(update, path, at_once=True)
            found += 1
        return found

    async def close(self) -> None:
        """Stop retrying; what is left stays in the spool for the next start."""
        tasks = list(self._retrying.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            log.error(
                "%d money updates not recorded yet: kept in %s for the next start",
                len(tasks),
                self.spool,
            )

    def _write(self, update: MoneyUpdate) -> Path:
        """The update on disk (written whole, then renamed; flushed to the device)."""
        self.spool.mkdir(parents=True, exist_ok=True)
        path = self.spool / update.file_name
        temporary = path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as file:
            json.dump(asdict(update), file)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
        directory = os.open(self.spool, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return path

    def _retry_later(self, update: MoneyUpdate, path: Path, *, at_once: bool = False) -> None:
        task = asyncio.create_task(self._keep_trying(update, path, at_once=at_once))
        self._retrying[update.file_name] = task
        task.add_done_callback(lambda _task: self._retrying.pop(update.file_name, None))

    async def _keep_trying(self, update: MoneyUpdate, path: Path, *, at_once: bool) -> None:
        pause = 0.0 if at_once else 0.5
        tries = 0
        while True:
            await asyncio.sleep(pause)
            tries += 1
            outcome = await self._try(update, path, first=False)
            if outcome == "recorded":
                log.info("%s recorded after %d more tries", update.describe(), tries)
            if outcome != "retry":
                return
            pause = min(max(pause * 2, 0.5), self.max_pause_seconds)

    async def _try(
        self, update: MoneyUpdate, path: Path, *, first: bool
    ) -> Literal["recorded", "retry", "kept"]:
        """Record it once: "recorded" (the spool file removed), "retry" (the database is
        down, or its payment is not recorded yet), or "kept" (it fails in a way waiting
        cannot mend: left on disk for the operator and the next start, never dropped)."""
        try:
            with use_language(update.language) if update.language else contextlib.nullcontext():
                await self._apply(update)
        except NotYetError:
            return "retry"
        except STORAGE_ERRORS as exc:
            if not is_outage(exc):
                log.exception("%s could not be recorded; kept in %s", update.describe(), path)
                return "kept"
            if first:
                log.error(
                    "%s not recorded yet: the database is unavailable (%s); kept in %s and "
                    "retried until it is recorded",
                    update.describe(),
                    type(exc).__name__,
                    path,
                )
            return "retry"
        except Exception:
            log.exception("%s could not be recorded; kept in %s", update.describe(), path)
            return "kept"
        _remove(path)
        return "recorded"

    async def _apply(self, update: MoneyUpdate) -> None:
        if update.kind == "refund":
            await self._refund(update)
            return
        parsed = parse_purchase(update.payload)
        if parsed is None or update.currency != STARS:
            # Paid for something this bot never sells: refunded by hand (/refund).
            log.error("%s has an unknown payload", update.describe())
            await self._tell(
                update, _("I could not match this payment; an operator will refund it.")
            )
            return
        tokens = parsed.tokens
        period = parsed.period(update.payload, update.expires, update.first_period)
        balance = await self.payments.credited(
            update.user_id, update.charge_id, update.stars, tokens, period
        )
        if balance is None:
            log.info("%s seen before: not credited again", update.describe())
            return
        log.info("payment of user_id=%s credited: %s tokens", update.user_id, tokens)
        await self._tell(update, paid_notice(tokens, balance, period))

    async def _refund(self, update: MoneyUpdate) -> None:
        done = await self.payments.refund(update.charge_id)
        if done is None:
            if (self.spool / MoneyUpdate("payment", 0, update.charge_id).file_name).exists():
                raise NotYetError(update.charge_id)  # its payment is not recorded yet
            log.warning("%s names no payment: nothing taken back", update.describe())
            return
        if not done.already:
            await self.tell_refund(done, update.chat_id, update.thread_id)

    async def tell_refund(self, done: Refund, chat_id: int, thread_id: int | None = None) -> None:
        """Tell the refunded user, once, what was taken back and what is left; a
        subscription the refund ended is not renewed by Telegram either (whichever path
        recorded the refund: /refund, the Mini App, or Telegram's refunded_payment)."""
        await self._send(chat_id, thread_id, refund_notice(done))
        if done.ended_subscription is not None:
            await stop_renewal(self.bot, done.payment.user_id, done.ended_subscription)

    async def _tell(self, update: MoneyUpdate, text: str) -> None:
        await self._send(update.chat_id or update.user_id, update.thread_id, text)

    async def _send(self, chat_id: int, thread_id: int | None, text: str) -> None:
        try:
            await self.bot.send_message(chat_id, text, message_thread_id=thread_id)
        except TelegramAPIError as exc:
            log.warning(
                "could not tell chat %s about its payment (%s)", chat_id, type(exc).__name__
            )


def _remove(path: Path) -> None:
    """The spool file of an update now recorded (a tiny local unlink)."""
    path.unlink(missing_ok=True)


def _read(path: Path) -> MoneyUpdate | None:
    """A spooled update, or None (logged) when the file cannot be read."""
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return MoneyUpdate(**fields)
    except (OSError, ValueError, TypeError) as exc:
        log.error("unreadable money update in %s (%s): left for the operator", path, exc)
        return None
