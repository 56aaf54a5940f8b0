"""Documents end to end: the real bot against loopback Telegram and LLM, both backends.

Telegram hosts the file (getFile, then /file/bot<token>/<path>); the bot reads its text in
a child process and asks the LLM about it, the caption being the question.
"""

from __future__ import annotations

from typing import Any

import pytest

from ai_tg_bot.bot.handlers.documents import (
    PROBLEMS,
    UNSUPPORTED_DOCUMENT,
    document_read,
    document_too_large,
)
from ai_tg_bot.db.database import Database
from ai_tg_bot.media.documents import TRUNCATED_NOTE, DocumentProblem, Extracted
from tests.documents import encrypted_pdf, make_docx, minimal_pdf, zip_bomb_docx
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_media import Stored, stored

ALICE = 111
FIRST_USER = 1000
GROUP = -100_4242
CAPTION = "What is the total?"
RUSSIAN = "\u041f\u0440\u0438\u0432\u0435\u0442"  # "Hello", sent as Windows-1251
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def host(bot: BotHarness, file_id: str, name: str, data: bytes, mime: str | None) -> Any:
    """Host the file on the fake Telegram; the `document` field of a message carrying it."""
    bot.tg.add_file(file_id, data, f"documents/{file_id}")
    fields = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": name}
    return fields | ({"mime_type": mime} if mime else {}) | {"file_size": len(data)}


def content(name: str, text: str, caption: str = CAPTION) -> str:
    """What is stored and sent for a document whose whole text was read."""
    return f"📄 {name}\n\n```\n{text}\n```" + (f"\n\n{caption}" if caption else "")


def attachment(document: Any, text: str, truncated: bool = False) -> dict[str, Any]:
    return {
        "type": "document", "file_id": document["file_id"],
        "file_unique_id": document["file_unique_id"], "file_name": document["file_name"],
        "mime": document.get("mime_type"), "size": document.get("file_size"),
        "chars": len(text), "truncated": truncated,
    }  # fmt: skip


def spent(bot: BotHarness) -> tuple[int, int]:
    """LLM calls and file downloads so far."""
    return bot.llm.calls, len(bot.tg.downloads)


async def test_txt_pdf_and_docx_reach_the_llm_and_are_stored(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot()
    pdf = minimal_pdf(["Invoice 42", "Total: 17 EUR"])
    docx_bytes = make_docx(["Invoice 43"], [["item", "price"], ["tea", "5 EUR"]])
    txt = "Total: 12 EUR\n" + RUSSIAN
    cases = {
        "txt": ("notes.txt", txt.encode("cp1251"), "text/plain", txt),
        "pdf": ("invoice.pdf", pdf, "application/pdf", "Invoice 42\nTotal: 17 EUR"),
        "docx": ("invoice.docx", docx_bytes, DOCX_MIME,
                 "Invoice 43\n\nitem | price\n\ntea | 5 EUR"),
    }  # fmt: skip
    for user, (case, (name, data, mime, text)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            document = host(bot, case, name, data, mime)
            answer = f"It is about {case}."
            bot.llm.queue_reply(answer)
            replies = await bot.push(user, document=document, caption=CAPTION)
            assert replies == [document_read(name, Extracted(text, False)), answer]
            question = content(name, text)
            assert bot.llm.last_request["messages"][-1] == {"role": "user", "content": question}
            assert await stored(database, user) == [
                Stored("user", "document", question, len(question), "answered",
                       [attachment(document, text)]),
                Stored("assistant", None, answer, len(answer), None, None),
            ]  # fmt: skip
            assert bot.tg.downloads[-1] == f"documents/{case}", "downloaded once"

    with subtests.test("a later turn still has the document's text"):
        await bot.say(FIRST_USER + 1, "and the currency?")
        history = [m["content"] for m in bot.llm.last_request["messages"][1:]]
        assert history[0] == content("invoice.pdf", "Invoice 42\nTotal: 17 EUR")
        assert len(bot.tg.downloads) == 3, "never downloaded again"


async def test_without_a_caption_the_document_alone_is_sent(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    document = host(bot, "d1", "todo.md", b"# Todo\n\n- tea", None)
    bot.llm.queue_reply("A short list.")
    assert await bot.push(ALICE, document=document) == [
        document_read("todo.md", Extracted("# Todo\n\n- tea", False)),
        "A short list.",
    ]
    question = content("todo.md", "# Todo\n\n- tea", caption="")
    assert bot.llm.last_request["messages"][-1]["content"] == question
    (row, _) = await stored(database, ALICE)
    assert (row.kind, row.content) == ("document", question)


async def test_a_long_document_is_cut_at_max_document_chars_with_a_note(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(max_document_chars=100)
    text = "".join(f"line {n:03}\n" for n in range(60))  # 540 characters
    document = host(bot, "long", "long.txt", text.encode(), "text/plain")
    bot.llm.queue_reply("Long indeed.")
    kept = text[:100].rstrip()
    assert await bot.push(ALICE, document=document, caption=CAPTION) == [
        document_read("long.txt", Extracted(kept, True)),
        "Long indeed.",
    ]
    assert "only its first 100 characters" in document_read("long.txt", Extracted(kept, True))
    note = TRUNCATED_NOTE.format(chars=100)
    question = f"📄 long.txt\n\n```\n{kept}\n```\n\n{note}\n\n{CAPTION}"
    assert bot.llm.last_request["messages"][-1]["content"] == question
    (row, _) = await stored(database, ALICE)
    assert (row.content, row.attachments) == (question, [attachment(document, kept, True)])


async def test_an_over_size_document_is_refused_before_any_download(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    limit = 1000
    bot = await make_bot(max_document_bytes=limit)
    data = b"x" * (limit + 1)
    with subtests.test("the size Telegram states in the message"):
        document = host(bot, "big", "big.txt", data, "text/plain")
        assert await bot.push(FIRST_USER, document=document) == [document_too_large(limit)]
        assert bot.tg.method_calls("getFile") == []
    with subtests.test("the size getFile states, when the message has none"):
        document = host(bot, "big2", "big.txt", data, "text/plain")
        del document["file_size"]
        assert await bot.push(FIRST_USER + 1, document=document) == [document_too_large(limit)]
        assert len(bot.tg.method_calls("getFile")) == 1
    assert bot.tg.downloads == []
    assert bot.llm.calls == 0
    assert await stored(database, FIRST_USER) == await stored(database, FIRST_USER + 1) == []


async def test_unreadable_files_get_a_clear_line_and_cost_nothing(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot()
    cases = {
        "encrypted": ("secret.pdf", encrypted_pdf(), "application/pdf",
                      PROBLEMS[DocumentProblem.ENCRYPTED]),
        "binary": ("notes.txt", bytes(range(256)) * 4, "text/plain",
                   PROBLEMS[DocumentProblem.BINARY]),
        "zip-bomb": ("bomb.docx", zip_bomb_docx(), DOCX_MIME,
                     PROBLEMS[DocumentProblem.UNREADABLE]),
        "corrupt": ("broken.pdf", b"%PDF-1.7\nnothing else", "application/pdf",
                    PROBLEMS[DocumentProblem.UNREADABLE]),
        "no-text": ("scan.pdf", minimal_pdf([]), "application/pdf",
                    PROBLEMS[DocumentProblem.NO_TEXT]),
        "unknown-type": ("setup.exe", b"MZ\x90\x00", "application/x-msdownload",
                         UNSUPPORTED_DOCUMENT),
    }  # fmt: skip
    for user, (case, (name, data, mime, line)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            document = host(bot, case, name, data, mime)
            assert await bot.push(user, document=document, caption=CAPTION) == [line]
            assert await stored(database, user) == []
    assert bot.llm.calls == 0
    assert "unknown-type" not in bot.tg.downloads, "an unknown type is not even downloaded"


async def test_over_the_daily_limit_a_document_costs_nothing(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(daily_message_limit=1)
    assert await bot.say(ALICE, "one") == ["Echo: one"]
    document = host(bot, "d1", "notes.txt", b"Some notes", "text/plain")
    calls = bot.llm.calls
    (refusal,) = await bot.push(ALICE, document=document, caption=CAPTION)
    assert "daily limit of 1 message" in refusal, "the refusal alone: nothing was read"
    assert bot.llm.calls == calls
    assert not bot.tg.method_calls("getFile"), "the limits come before any getFile"
    assert not bot.tg.downloads, "and before any download or extraction"
    assert [r.kind for r in await stored(database, ALICE)] == [None, None]


async def test_in_a_group_only_an_addressed_document_is_read(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(group_chats=True)
    document = host(bot, "d1", "notes.txt", b"Group notes", "text/plain")

    def post(caption: str) -> None:
        message = bot.tg.make_message(
            ALICE, chat_id=GROUP, chat_type="supergroup", document=document, caption=caption
        )
        if caption.startswith("@test_bot"):  # Telegram marks the mention
            message["caption_entities"] = [{"type": "mention", "offset": 0, "length": 9}]
        bot.tg.push_update({"message": message})

    post("just sharing this")
    await bot.settle()
    assert bot.messages(GROUP) == []
    assert bot.tg.method_calls("getFile") == []
    bot.llm.queue_reply("Group notes, read.")
    post("@test_bot summarize")
    await bot.settle()
    assert [m.text for m in bot.messages(GROUP)] == [
        document_read("notes.txt", Extracted("Group notes", False)),
        "Group notes, read.",
    ]
    # The group's conversation, with the asker's name (ADR 0019).
    question = "User: " + content("notes.txt", "Group notes", "@test_bot summarize")
    (row, _) = await stored(database, GROUP)
    assert (row.kind, row.content) == ("document", question)
