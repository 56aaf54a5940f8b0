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

from ai_tg_bot.i18n import N_, _, ngettext, number
from ai_tg_bot.storage import ExportedMessage, HistoryExport
from ai_tg_bot.tools import tool_line

SPOOL_MAX_BYTES = 4 * 1024 * 1024
FORMAT = "ai-tg-bot history export, version 2"
# The Markdown file's labels: English msgids, translated as each export is written (the
# JSON file keeps its keys and values in English, for programs).
_KIND_NOTES = {
    "photo": N_("photo"),
    "voice": N_("voice message (transcript)"),
    "document": N_("document (its text)"),
    "image": N_("a picture made with /image"),
    "stopped": N_("stopped by you (incomplete)"),
    "cut": N_("cut off by an error (incomplete)"),
}
_ROLES = {"user": N_("user"), "assistant": N_("assistant")}


def iso(moment: datetime) -> str:
    """A UTC timestamp in ISO 8601 with a Z, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quoted(text: str) -> str:
    """Text as a Markdown blockquote: a message's own Markdown cannot break the layout."""
    if not text.strip():
        no_text = _("(no text)")
        return f"> _{no_text}_"
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
    # How many memory facts they hold (an export of facts alone is still one).
    facts: int = 0
    _files: list[IO[bytes]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to send: no message and no fact."""
        return not self.count and not self.facts

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
        "conversation_id": message.conversation_id,
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
    role = _(_ROLES[message.role]) if message.role in _ROLES else message.role
    notes = [_(note)] if (note := _KIND_NOTES.get(message.kind or "")) else []
    if not message.in_context:
        notes.append(_("trimmed (out of the context window)"))
    heading = " · ".join([iso(message.created_at), role, *notes])
    # The tools an answer used, by name (their arguments and results are in the JSON).
    tools = "".join(
        f"{tool_line(str(a.get('name', '')))}  \n"
        for a in message.attachments or ()
        if a.get("type") == "tool_call"
    )
    tools = f"{tools}\n" if tools else ""
    return f"#### {heading}\n\n{tools}{quoted(message.content)}\n\n"


def _conversation_json(message: ExportedMessage) -> dict[str, Any]:
    return {
        "id": message.conversation_id,
        "title": message.conversation_title,
        "system_prompt": message.conversation_prompt,
        "telegram_thread_id": message.conversation_topic,
    }


def _conversation_markdown(message: ExportedMessage) -> str:
    title = message.conversation_title or _("Untitled conversation")
    lines = [f"### 💬 {title}\n"]
    if message.conversation_topic is not None:
        lines.append(_("A topic of our chat.") + "\n")
    if message.conversation_prompt is not None:
        lines.append(_("Its own role:") + f"\n\n{quoted(message.conversation_prompt)}\n")
    return "\n".join(lines) + "\n"


def _memory_markdown(export: HistoryExport) -> str:
    """The facts the model is told about the user (/memory), if any."""
    if not export.memory:
        return ""
    heading = _("What I remember about you (/memory)")
    lines = "".join(f"- {fact.text} ({iso(fact.created_at)})\n" for fact in export.memory)
    return f"## {heading}\n\n{lines}\n"


async def write_export(export: HistoryExport, exported_at: datetime) -> ExportFiles:
    """Write both files while the messages stream in; the caller closes the result."""
    markdown, data = _Writer(), _Writer()
    title = _("Dialogue export")
    user = _("User id: {user_id}").format(user_id=export.user_id)
    exported = _("Exported at: {moment} (UTC)").format(moment=iso(exported_at))
    contains = _(
        "Contains: your messages and the answers by conversation, oldest first, "
        "including those trimmed out of the context window; not what you cleared with "
        "/reset, /role or /retry."
    )
    if export.is_default_prompt:
        prompt = _("System prompt (the default)")
    else:
        prompt = _("System prompt (your own)")
    messages = _("Messages")
    markdown.write(
        f"# {title}\n\n- {user}\n- {exported}\n- {contains}\n\n"
        f"## {prompt}\n\n{quoted(export.system_prompt)}\n\n{_memory_markdown(export)}"
        f"## {messages}\n\n"
    )
    header = {
        "format": FORMAT,
        "user_id": export.user_id,
        "exported_at": iso(exported_at),
        "system_prompt": export.system_prompt,
        "system_prompt_is_default": export.is_default_prompt,
        "memory": [
            {"text": fact.text, "source": fact.source, "created_at": iso(fact.created_at)}
            for fact in export.memory
        ],
    }
    # The object is written by hand around a streamed array; each value by json.dumps.
    data.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "messages": [')
    count = 0
    # The conversations met (few): written after the messages, which stream grouped.
    conversations: list[dict[str, Any]] = []
    try:
        async for message in export.messages:
            if not conversations or conversations[-1]["id"] != message.conversation_id:
                conversations.append(_conversation_json(message))
                markdown.write(_conversation_markdown(message))
            item = json.dumps(_message_json(message), ensure_ascii=False)
            data.write(("," if count else "") + "\n  " + item)
            markdown.write(_message_markdown(message))
            count += 1
    except BaseException:
        markdown.file.close()
        data.file.close()
        raise
    listed = json.dumps(conversations, ensure_ascii=False)
    data.write(f'\n], "conversations": {listed}, "message_count": {count}}}\n')
    total = ngettext("{count} message.", "{count} messages.", count).format(count=number(count))
    markdown.write(f"---\n\n{total}\n")
    stamp = exported_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"history-{export.user_id}-{stamp}"
    return ExportFiles(
        markdown=markdown.finish(f"{name}.md"),
        json=data.finish(f"{name}.json"),
        count=count,
        facts=len(export.memory),
        _files=[markdown.file, data.file],
    )
