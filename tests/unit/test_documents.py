"""Reading documents: formats, decoding, bounds, the stored layout, and the child process."""

from __future__ import annotations

import pytest

from ai_tg_bot.media import extraction as document_text
from ai_tg_bot.media.documents import (
    TRUNCATED_NOTE,
    display_name,
    document_content,
    document_format,
    read_document,
)
from ai_tg_bot.media.extraction import (
    DocumentError,
    DocumentFormat,
    DocumentProblem,
    Extracted,
    check_zip,
    decode_text,
    extract_text,
)
from tests.documents import encrypted_pdf, make_docx, minimal_pdf, zip_bomb_docx

PDF, DOCX, TEXT = DocumentFormat.PDF, DocumentFormat.DOCX, DocumentFormat.TEXT


@pytest.mark.parametrize(
    ("name", "mime", "expected"),
    [
        ("report.PDF", None, PDF),
        ("letter.docx", "application/octet-stream", DOCX),
        ("notes.txt", None, TEXT),
        ("main.py", "text/x-python", TEXT),
        ("data.csv", "text/csv", TEXT),
        ("Dockerfile", None, TEXT),
        ("scan", "application/pdf", PDF),
        (None, "application/json", TEXT),
        ("page", "text/html", TEXT),
        ("old.doc", "application/msword", None),
        ("archive.zip", "text/plain", None),  # a known other extension is not guessed
        ("photo.jpg", "image/jpeg", None),
        (None, "application/octet-stream", None),
        (None, None, None),
    ],
)
def test_the_format_comes_from_the_name_then_the_mime(
    name: str | None, mime: str | None, expected: DocumentFormat | None
) -> None:
    assert document_format(name, mime) is expected


def test_a_name_is_one_bounded_line() -> None:
    assert display_name("report.pdf") == "report.pdf"
    assert display_name(None) == "document"
    assert display_name(" \x00 ") == "document"
    assert display_name("evil\nname\u2028here.txt") == "evil name here.txt"
    long = display_name("x" * 500 + ".pdf")
    assert len(long) == 120
    assert long.endswith("….pdf")


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("Hello, мир".encode(), "Hello, мир"),
        ("\ufeffWith BOM".encode(), "With BOM"),
        ("UTF-16 текст".encode("utf-16"), "UTF-16 текст"),
        ("Привет, мир".encode("cp1251"), "Привет, мир"),
        (b"tabs\tand\r\nlines\x0c", "tabs\tand\r\nlines\x0c"),
    ],
)
def test_text_is_decoded(data: bytes, text: str) -> None:
    assert decode_text(data) == text


@pytest.mark.parametrize(
    "data",
    [b"ELF\x00\x01\x02", bytes(range(1, 32)) * 20, b"\x98\x98\x98"],
    ids=["nul-bytes", "controls", "not-cp1251"],
)
def test_bytes_that_are_not_text_are_binary(data: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        decode_text(data)
    assert caught.value.problem is DocumentProblem.BINARY


def test_text_is_cleaned_and_cut_at_max_chars() -> None:
    assert extract_text(b"  a\r\nb\x07c\r  ", TEXT, 100) == Extracted("a\nbc", False)
    assert extract_text(b"0123456789" * 20, TEXT, 100) == Extracted("0123456789" * 10, True)
    assert extract_text(b"0123456789" * 10, TEXT, 100) == Extracted("0123456789" * 10, False)
    with pytest.raises(DocumentError) as caught:
        extract_text(b" \n\t ", TEXT, 100)
    assert caught.value.problem is DocumentProblem.NO_TEXT


def test_a_pdf_gives_its_pages_text() -> None:
    data = minimal_pdf(["First page", "line two"], ["Second (page)"])
    assert extract_text(data, PDF, 1000) == Extracted(
        "First page\nline two\n\nSecond (page)", False
    )
    assert extract_text(data, PDF, 12) == Extracted("First page\nl", True)


def test_pages_past_the_cap_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document_text, "MAX_PDF_PAGES", 1)
    data = minimal_pdf(["One"], ["Two"])
    assert extract_text(data, PDF, 1000) == Extracted("One", True)


def test_pdfs_that_cannot_be_read(subtests: pytest.Subtests) -> None:
    cases = {
        "encrypted": (encrypted_pdf(), DocumentProblem.ENCRYPTED),
        "no text": (minimal_pdf([]), DocumentProblem.NO_TEXT),
        "corrupt": (b"%PDF-1.4\nnot really", DocumentProblem.UNREADABLE),
    }
    for case, (data, problem) in cases.items():
        with subtests.test(case), pytest.raises(DocumentError) as caught:
            extract_text(data, PDF, 1000)
        assert caught.value.problem is problem
    with subtests.test("only an owner password: readable"):
        data = encrypted_pdf("", owner_password="owner")
        assert extract_text(data, PDF, 1000) == Extracted("Secret", False)


def test_a_docx_gives_paragraphs_and_table_rows() -> None:
    data = make_docx(["Title", "", "Body text."], [["name", "qty"], ["apples", "3"]])
    text = "Title\n\nBody text.\n\nname | qty\n\napples | 3"
    assert extract_text(data, DOCX, 1000) == Extracted(text, False)


def test_docx_bombs_and_impostors_are_refused_before_parsing(subtests: pytest.Subtests) -> None:
    cases = {
        "unpacked size": zip_bomb_docx(80 * 1024 * 1024),
        "ratio": zip_bomb_docx(4 * 1024 * 1024),
        "not a zip": b"PK\x03\x04 but nothing more",
    }
    for case, data in cases.items():
        with subtests.test(case), pytest.raises(DocumentError) as caught:
            check_zip(data)
        assert caught.value.problem is DocumentProblem.UNREADABLE
    with (
        subtests.test("an OLE container: an encrypted DOCX"),
        pytest.raises(DocumentError) as caught,
    ):
        extract_text(document_text.OLE_MAGIC + bytes(512), DOCX, 1000)
    assert caught.value.problem is DocumentProblem.ENCRYPTED
    check_zip(make_docx(["fine"]))


def test_the_content_fences_the_text_then_asks() -> None:
    content = document_content("a.md", Extracted("Some text", False), " What is it? ")
    assert content == "📄 a.md\n\n```\nSome text\n```\n\nWhat is it?"
    assert document_content("a.md", Extracted("x", False), "") == "📄 a.md\n\n```\nx\n```"


def test_a_fence_inside_the_text_cannot_close_the_block() -> None:
    text = "before\n````\nfenced\n````\nafter"
    content = document_content("README.md", Extracted(text, True), "")
    assert content == (
        f"📄 README.md\n\n`````\n{text}\n`````\n\n" + TRUNCATED_NOTE.format(chars=len(text))
    )


async def test_the_child_process_reads_and_reports() -> None:
    data = minimal_pdf(["Hello from a child"])
    assert await read_document(data, PDF, max_chars=1000) == Extracted("Hello from a child", False)
    with pytest.raises(DocumentError) as caught:
        await read_document(encrypted_pdf(), PDF, max_chars=1000)
    assert caught.value.problem is DocumentProblem.ENCRYPTED
    with pytest.raises(DocumentError) as caught:
        await read_document(bytes(range(256)), TEXT, max_chars=1000)
    assert caught.value.problem is DocumentProblem.BINARY


async def test_a_child_over_its_bounds_is_unreadable() -> None:
    """Out of memory (as a bomb would be) or out of time: killed there, unreadable here."""
    text = b"line of text\n" * (3 * 1024 * 1024)  # 39 MB: more than the child may hold
    with pytest.raises(DocumentError) as caught:
        await read_document(text, TEXT, max_chars=1000, memory_bytes=32 * 1024 * 1024)
    assert (caught.value.problem, caught.value.detail) == (
        DocumentProblem.UNREADABLE,
        "out of memory",
    )
    with pytest.raises(DocumentError) as caught:
        await read_document(minimal_pdf(["slow"]), PDF, max_chars=1000, timeout_seconds=0.001)
    assert (caught.value.problem, caught.value.detail) == (DocumentProblem.UNREADABLE, "timed out")
