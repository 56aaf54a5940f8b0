"""A user's history as files: Markdown to read, JSON to process; transport-free.

Rows are written as they stream from the database into spooled files: in memory up to
SPOOL_MAX_BYTES each, then on disk, so a long history never sits in memory whole.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from ai_tg_bot.storage.privacy import ExportedMessage, HistoryExport

SPOOL_MAX_BYTES = 4 * 1024 * 1024
FORMAT = "ai-tg-bot history export, version 1"
_KIND_NOTES = {"photo": " · photo", "voice": " · voice message (transcript)"}


def iso(moment: datetime) -> str:
    """A UTC timestamp in ISO 8601 with a Z, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quoted(text: str) -> str:
    """Text as a Markdown blockquote: a message's own Markdown cannot break the layout."""
    if not text.strip():
        return "> _(no text)_"
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


@dataclass
class ExportFile:
    """One written file: its name, size and contents (rewound, ready to read)."""

    filename: str
    size: int
    content: IO[bytes]

    @property
    def in_memory(self) -> bool:
        """Whether the file never spilled to disk (SpooledTemporaryFile rolls over past it)."""
        return self.size <= SPOOL_MAX_BYTES


@dataclass
class ExportFiles:
    """The Markdown and JSON files of one export and how many messages they hold."""

    markdown: ExportFile
    json: ExportFile
    count: int
    _files: list[IO[bytes]] = field(default_factory=list)

    def close(self) -> None:
        """Free the memory or delete the temporary files."""
        for file in self._files:
            file.close()


class _Writer:
    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.file.write(data)
        self.size += len(data)

    def finish(self, filename: str) -> ExportFile:
        self.file.seek(0)
        return ExportFile(filename, self.size, self.file)


def _message_json(message: ExportedMessage) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "created_at": iso(message.created_at),
        "role": message.role,
        "content": message.content,
        "in_context": message.in_context,
        "kind": message.kind or "text",
        "status": message.status,
        "model": message.model,
        "attachments": message.attachments,
    }


def _message_markdown(message: ExportedMessage) -> str:
    notes = _KIND_NOTES.get(message.kind or "", "")
    if not message.in_context:
        notes += " · trimmed (out of the context window)"
    return f"### {iso(message.created_at)} · {message.role}{notes}\n\n{quoted(message.content)}\n\n"


async def write_export(export: HistoryExport, exported_at: datetime) -> ExportFiles:
    """Write both files while the messages stream in; the caller closes the result."""
    markdown, data = _Writer(), _Writer()
    prompt_kind = "the default" if export.is_default_prompt else "your own"
    markdown.write(
        "# Dialogue export\n\n"
        f"- User id: {export.user_id}\n"
        f"- Exported at: {iso(exported_at)} (UTC)\n"
        "- Contains: your messages and the answers, oldest first, including those trimmed "
        "out of the context window; not what you cleared with /reset, /role or /retry.\n\n"
        f"## System prompt ({prompt_kind})\n\n{quoted(export.system_prompt)}\n\n"
        "## Messages\n\n"
    )
    header = {
        "format": FORMAT,
        "user_id": export.user_id,
        "exported_at": iso(exported_at),
        "system_prompt": export.system_prompt,
        "system_prompt_is_default": export.is_default_prompt,
    }
    # The object is written by hand around a streamed array; each value by json.dumps.
    data.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "messages": [')
    count = 0
    try:
        async for message in export.messages:
            item = json.dumps(_message_json(message), ensure_ascii=False)
            data.write(("," if count else "") + "\n  " + item)
            markdown.write(_message_markdown(message))
            count += 1
    except BaseException:
        markdown.file.close()
        data.file.close()
        raise
    data.write(f'\n], "message_count": {count}}}\n')
    markdown.write(f"---\n\n{count} message{'' if count == 1 else 's'}.\n")
    stamp = exported_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"history-{export.user_id}-{stamp}"
    return ExportFiles(
        markdown=markdown.finish(f"{name}.md"),
        json=data.finish(f"{name}.json"),
        count=count,
        _files=[markdown.file, data.file],
    )
