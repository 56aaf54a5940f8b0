"""The text of a document (PDF, DOCX, plain text), read within bounds; no project imports.

Hostile input is expected: `documents.read_document` runs `python -m ai_tg_bot.media.extraction
<format> <max_chars> <memory_bytes> <cpu_seconds>` with the file's bytes on stdin. The child
caps its own address space and CPU time before it reads a byte, then writes one JSON object
to stdout: `{"text": ..., "truncated": ...}` or `{"problem": ..., "detail": ...}`. A zip
bomb or a decompression bomb ends in MemoryError (or the kernel's SIGKILL/SIGXCPU), never
in the bot's process. `extract_text` is the same work in-process (for tests).
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from ai_tg_bot.errors import BotError

MAX_PDF_PAGES = 1000
# A DOCX is a zip: refused before parsing when it declares more than this unpacked, more
# entries than this, or one large entry packed more tightly than MAX_ZIP_RATIO.
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_RATIO = 100
_RATIO_CHECKED_BYTES = 1024 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted DOCX is an OLE container
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Control characters no text file holds (tab, newlines, form feed and escape are allowed).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


class DocumentFormat(StrEnum):
    """How a document's text is read."""

    PDF = "pdf"
    DOCX = "docx"
    TEXT = "text"


class DocumentProblem(StrEnum):
    """Why a document's text could not be read."""

    UNSUPPORTED = "unsupported"  # not a type the bot reads
    ENCRYPTED = "encrypted"  # needs a password
    NO_TEXT = "no_text"  # read, but holds no text (a scan, images only)
    BINARY = "binary"  # said to be text, but is not
    UNREADABLE = "unreadable"  # corrupt, a bomb, too complex or too slow


class DocumentError(BotError):
    """A document whose text cannot be read: `problem` says why, `detail` is for the log."""

    def __init__(self, problem: DocumentProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Extracted:
    """A document's text, at most `max_chars` of it; `truncated` if there was more."""

    text: str
    truncated: bool


def extract_text(data: bytes, fmt: DocumentFormat, max_chars: int) -> Extracted:
    """The text of `data` read as `fmt`, cut at `max_chars`; DocumentError if it has none."""
    if fmt is DocumentFormat.PDF:
        pieces: Iterator[str | None] = _pdf_pages(data)
    elif fmt is DocumentFormat.DOCX:
        pieces = _docx_blocks(data)
    else:
        pieces = iter([decode_text(data)])
    text, truncated = _gather(pieces, max_chars)
    if not text.strip():
        raise DocumentError(DocumentProblem.NO_TEXT)
    return Extracted(text, truncated)


def _gather(pieces: Iterator[str | None], max_chars: int) -> tuple[str, bool]:
    """Clean pieces joined by blank lines, cut at `max_chars`; None: more was left unread."""
    kept: list[str] = []
    size = 0
    for piece in pieces:
        if piece is None:
            return "\n\n".join(kept)[:max_chars].rstrip(), True
        cleaned = _clean(piece)
        if not cleaned:
            continue
        size += len(cleaned) + (2 if kept else 0)
        kept.append(cleaned)
        if size > max_chars:
            return "\n\n".join(kept)[:max_chars].rstrip(), True
    return "\n\n".join(kept), False


def _clean(text: str) -> str:
    """Without NUL, lone surrogates and other controls; Unix line ends; trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub("", text)).strip()


def decode_text(data: bytes) -> str:
    """Plain text: a BOM's encoding, else UTF-8, else Windows-1251; BINARY if it is not text."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(codec))
            except UnicodeDecodeError as exc:
                raise DocumentError(DocumentProblem.BINARY, f"not {codec}") from exc
    if b"\x00" in data:
        raise DocumentError(DocumentProblem.BINARY, "NUL bytes")
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    try:
        return _checked(data.decode("cp1251"))
    except UnicodeDecodeError as exc:
        raise DocumentError(DocumentProblem.BINARY, "neither UTF-8 nor cp1251") from exc


def _checked(text: str) -> str:
    """Refuse decoded text with more than 1% control characters: bytes, not text."""
    if len(_CONTROLS.findall(text)) * 100 > len(text) + 100:
        raise DocumentError(DocumentProblem.BINARY, "control characters")
    return text


def _pdf_pages(data: bytes) -> Iterator[str | None]:
    """Each page's text, then None if pages past MAX_PDF_PAGES were left unread (pypdf
    caps each stream's decompressed size itself)."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise DocumentError(DocumentProblem.ENCRYPTED)
        for number, page in enumerate(reader.pages):
            if number >= MAX_PDF_PAGES:
                yield None
                return
            yield page.extract_text()
    except (FileNotDecryptedError, DependencyError) as exc:
        raise DocumentError(DocumentProblem.ENCRYPTED, type(exc).__name__) from exc
    except PdfReadError as exc:
        raise DocumentError(DocumentProblem.UNREADABLE, f"PdfReadError: {exc}") from exc


def check_zip(data: bytes) -> None:
    """Refuse a zip that declares too much unpacked, too many entries, or a bomb's ratio."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise DocumentError(DocumentProblem.UNREADABLE, f"not a zip: {exc}") from exc
    if len(entries) > MAX_ZIP_ENTRIES:
        raise DocumentError(DocumentProblem.UNREADABLE, f"{len(entries)} zip entries")
    if sum(entry.file_size for entry in entries) > MAX_UNZIPPED_BYTES:
        raise DocumentError(DocumentProblem.UNREADABLE, "zip bomb: unpacked size")
    for entry in entries:
        packed = max(entry.compress_size, 1)
        if entry.file_size > _RATIO_CHECKED_BYTES and entry.file_size > packed * MAX_ZIP_RATIO:
            raise DocumentError(DocumentProblem.UNREADABLE, "zip bomb: ratio")


def _docx_blocks(data: bytes) -> Iterator[str]:
    """The body's paragraphs and table rows (cells joined by " | "), in document order."""
    if data.startswith(OLE_MAGIC):
        raise DocumentError(DocumentProblem.ENCRYPTED, "an OLE container")
    check_zip(data)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on a damaged package
        raise DocumentError(DocumentProblem.UNREADABLE, f"{type(exc).__name__}: {exc}") from exc
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    if not cells or cell.text != cells[-1]:  # a merged cell repeats
                        cells.append(cell.text)
                yield " | ".join(cells)
        else:
            yield block.text


def _limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _forbid_files() -> None:
    """No file is written from here on (its parser imported first: it may cache bytecode)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # stdout is a pipe, not a file


def _import_parser(fmt: DocumentFormat) -> None:
    if fmt is DocumentFormat.PDF:
        import pypdf  # noqa: F401
    elif fmt is DocumentFormat.DOCX:
        import docx  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """The child: limits first, then the bytes from stdin, then one JSON object on stdout."""
    name, max_chars, memory_bytes, cpu_seconds = argv if argv is not None else sys.argv[1:]
    _limit_resources(int(memory_bytes), int(cpu_seconds))
    logging.disable(logging.CRITICAL)  # pypdf warns on every oddity of a damaged file
    warnings.simplefilter("ignore")
    result: dict[str, object]
    try:
        fmt = DocumentFormat(name)
        _import_parser(fmt)
        _forbid_files()
        data = sys.stdin.buffer.read()
        extracted = extract_text(data, fmt, int(max_chars))
        result = {"text": extracted.text, "truncated": extracted.truncated}
    except DocumentError as exc:
        result = {"problem": exc.problem.value, "detail": exc.detail[:300]}
    except MemoryError:
        result = {"problem": DocumentProblem.UNREADABLE.value, "detail": "out of memory"}
    except Exception as exc:  # a parser's bug on a strange file: still only unreadable
        detail = f"{type(exc).__name__}: {exc}"[:300]
        result = {"problem": DocumentProblem.UNREADABLE.value, "detail": detail}
    sys.stdout.buffer.write(json.dumps(result, ensure_ascii=False).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
