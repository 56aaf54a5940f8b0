"""Documents in, transport-free: which files are read, reading them safely, and what is stored.

A document becomes one question whose `content` is what the LLM sees: the file's name,
its text in a fenced block (cut at MAX_DOCUMENT_CHARS, with a note saying so), then the
caption, which is the question. `attachments` describes the file (it stays on Telegram's
servers and is never fetched again: later turns, /retry, /search and /export use the text).

The text is extracted in a child process (`media.extraction`) with capped memory and CPU
time and an overall deadline, killed if it runs over: a hostile file (a zip or
decompression bomb, a pathological PDF) costs that child, never the bot's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import weakref
from pathlib import PurePath

from ai_tg_bot.media.extraction import DocumentError, DocumentFormat, DocumentProblem, Extracted
from ai_tg_bot.storage import Attachment, without_nul

__all__ = [
    "DocumentError",
    "DocumentFormat",
    "DocumentProblem",
    "Extracted",
    "display_name",
    "document_attachment",
    "document_content",
    "document_format",
    "read_document",
]
log = logging.getLogger(__name__)

# The child's bounds: address space, CPU seconds, and the wall-clock deadline it is killed at.
EXTRACT_MEMORY_BYTES = 512 * 1024 * 1024
EXTRACT_CPU_SECONDS = 15
EXTRACT_TIMEOUT_SECONDS = 20.0
# Children at once per process (each may use EXTRACT_MEMORY_BYTES); others wait their turn.
MAX_CONCURRENT_EXTRACTIONS = 2
DOCUMENT_ICON = "📄"
DEFAULT_NAME = "document"
MAX_NAME_CHARS = 120
# What the model is told when the text was cut (English, like the photo stand-in).
TRUNCATED_NOTE = "[The document is longer: only its first {chars} characters are shown above.]"

PDF_MIMES = frozenset({"application/pdf", "application/x-pdf"})
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT_MIMES = frozenset(
    {
        "application/json", "application/ld+json", "application/x-ndjson", "application/xml",
        "application/javascript", "application/x-javascript", "application/x-yaml",
        "application/yaml", "application/toml", "application/x-sh", "application/x-python",
        "application/sql", "application/x-subrip", "application/csv", "application/x-tex",
    }
)  # fmt: skip
TEXT_EXTENSIONS = frozenset(
    {
        "txt", "text", "md", "markdown", "rst", "adoc", "org", "tex", "bib", "log", "csv",
        "tsv", "json", "jsonl", "ndjson", "xml", "html", "htm", "css", "scss", "less",
        "yaml", "yml", "toml", "ini", "cfg", "conf", "env", "properties", "sql", "graphql",
        "proto", "srt", "vtt", "py", "pyi", "ipynb", "js", "mjs", "cjs", "ts", "tsx", "jsx",
        "vue", "svelte", "java", "kt", "kts", "scala", "groovy", "gradle", "c", "h", "cc",
        "cpp", "cxx", "hpp", "hh", "cs", "fs", "go", "rs", "rb", "php", "pl", "pm", "lua",
        "r", "m", "swift", "dart", "ex", "exs", "erl", "hs", "clj", "elm", "jl", "nim",
        "zig", "sh", "bash", "zsh", "fish", "ps1", "bat", "cmd", "dockerfile", "makefile",
        "cmake", "mk", "tf", "hcl", "nix", "diff", "patch", "gitignore", "editorconfig",
    }
)  # fmt: skip
# Files known by their whole name rather than an extension.
TEXT_NAMES = frozenset({"dockerfile", "makefile", "readme", "license", "changelog", "procfile"})
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_BACKTICKS = re.compile(r"`{3,}")
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def document_format(file_name: str | None, mime: str | None) -> DocumentFormat | None:
    """How a file is read, by its name's extension, else its MIME type; None: not read."""
    path = PurePath((file_name or "").strip().lower())
    extension = path.suffix.lstrip(".")
    mime = (mime or "").split(";")[0].strip().lower()
    if extension == "pdf":
        return DocumentFormat.PDF
    if extension == "docx":
        return DocumentFormat.DOCX
    if extension in TEXT_EXTENSIONS or path.name in TEXT_NAMES:
        return DocumentFormat.TEXT
    if extension:  # a known other kind (.doc, .zip, .exe ...) is not guessed from its MIME
        return None
    if mime in PDF_MIMES:
        return DocumentFormat.PDF
    if mime == DOCX_MIME:
        return DocumentFormat.DOCX
    if mime.startswith("text/") or mime in TEXT_MIMES:
        return DocumentFormat.TEXT
    return None


def display_name(file_name: str | None) -> str:
    """The file's name as shown to the model and stored: one line, bounded."""
    name = " ".join(_UNSAFE_NAME.sub(" ", without_nul(file_name or "")).split())
    if len(name) > MAX_NAME_CHARS:
        suffix = PurePath(name).suffix
        suffix = suffix if len(suffix) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(suffix) - 1] + "…" + suffix
    return name or DEFAULT_NAME


def document_content(name: str, extracted: Extracted, caption: str) -> str:
    """What is stored and sent: `📄 name`, the text fenced, the cut note, then the caption.

    The fence is longer than any run of backticks in the text, so the text (code, or
    Markdown with its own fences) cannot close it early.
    """
    longest = max((len(run) for run in _BACKTICKS.findall(extracted.text)), default=2)
    fence = "`" * (longest + 1)
    parts = [f"{DOCUMENT_ICON} {name}", f"{fence}\n{extracted.text}\n{fence}"]
    if extracted.truncated:
        parts.append(TRUNCATED_NOTE.format(chars=len(extracted.text)))
    if caption.strip():
        parts.append(without_nul(caption).strip())
    return "\n\n".join(parts)


def document_attachment(
    file_id: str,
    file_unique_id: str,
    name: str,
    mime: str | None,
    size: int | None,
    extracted: Extracted,
) -> Attachment:
    """What is stored about the file besides its text."""
    return {
        "type": "document",
        "file_id": file_id,
        "file_unique_id": file_unique_id,
        "file_name": name,
        "mime": mime,
        "size": size,
        "chars": len(extracted.text),
        "truncated": extracted.truncated,
    }


def _slot() -> asyncio.Semaphore:
    """This event loop's bound on extractions running at once."""
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_EXTRACTIONS)
    return slot


def _child_env() -> dict[str, str]:
    """Only what Python needs to start: the bot's secrets stay out of the child."""
    keep = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL", "LC_CTYPE")
    return {key: os.environ[key] for key in keep if key in os.environ}


async def read_document(
    data: bytes,
    fmt: DocumentFormat,
    *,
    max_chars: int,
    timeout_seconds: float = EXTRACT_TIMEOUT_SECONDS,
    memory_bytes: int = EXTRACT_MEMORY_BYTES,
    cpu_seconds: int = EXTRACT_CPU_SECONDS,
) -> Extracted:
    """The document's text, read in a bounded child process; DocumentError if it cannot be.

    The child is killed at `timeout_seconds` (also when this is cancelled); running out of
    memory or CPU there, or crashing, is UNREADABLE.
    """
    async with _slot():
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "ai_tg_bot.media.extraction",
            fmt.value, str(max_chars), str(memory_bytes), str(cpu_seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=_child_env(),
        )  # fmt: skip
        try:
            async with asyncio.timeout(timeout_seconds):
                output, _ = await process.communicate(data)
        except TimeoutError as exc:
            raise DocumentError(DocumentProblem.UNREADABLE, "timed out") from exc
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return _result(output, process.returncode)


def _result(output: bytes, returncode: int | None) -> Extracted:
    """The child's JSON answer as Extracted, or the DocumentError it reported."""
    try:
        answer = json.loads(output)
    except ValueError:
        answer = None
    if returncode != 0 or not isinstance(answer, dict):
        raise DocumentError(DocumentProblem.UNREADABLE, f"the reader ended with {returncode}")
    if "problem" in answer:
        problem = DocumentProblem(answer["problem"])
        raise DocumentError(problem, str(answer.get("detail") or ""))
    return Extracted(without_nul(str(answer["text"])), bool(answer["truncated"]))
