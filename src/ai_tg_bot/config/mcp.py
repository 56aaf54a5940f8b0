"""MCP_SERVERS: which MCP servers the bot connects to, parsed from one setting.

Accepted forms (a server is a command run over stdio, or an http(s) URL spoken to over
streamable HTTP):

- `name=command args;name2=https://host/mcp` (`;` or new lines between servers);
- a bare command or URL, or several separated by `;` (or by `,` when each is a URL or
  `name=...`): named after the URL's host or the command's program;
- JSON: `{"name": "command or URL"}`, `["command or URL", ...]`, or the shape desktop
  MCP clients use, `{"mcpServers": {"name": {"command": "...", "args": [...],
  "env": {...}} | {"url": "..."}}}` (the wrapper is optional).

The result maps each name (1-32 of A-Z a-z 0-9 _ -, no "__": tools are exposed to the
model as `<server>__<tool>`) to one target string: a URL, or a command line (shell-quoted,
run through `env` when the server is given variables of its own).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

SERVER_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
URL_PREFIXES = ("http://", "https://")


def parse_mcp_servers(raw: str) -> dict[str, str]:
    """The servers in MCP_SERVERS by name; ValueError with a clear message if malformed."""
    raw = raw.strip()
    if not raw:
        return {}
    if raw[0] in "{[":
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
        pairs = _json_pairs(parsed)
    else:
        pairs = [_entry(entry) for entry in _entries(raw)]
    servers: dict[str, str] = {}
    for name, target in pairs:
        name = name or _auto_name(target, servers)
        if not SERVER_NAME.fullmatch(name) or "__" in name:
            raise ValueError(
                f'server name "{name}" must be 1-32 of A-Z, a-z, 0-9, _ and - (no "__")'
            )
        if name in servers:
            raise ValueError(f'server "{name}" is listed twice')
        if not target:
            raise ValueError(f'server "{name}" has no command or URL')
        if not target.startswith(URL_PREFIXES):
            try:
                shlex.split(target)
            except ValueError as exc:
                raise ValueError(
                    f'server "{name}": the command line is malformed ({exc})'
                ) from None
        servers[name] = target
    return servers


def _entries(raw: str) -> list[str]:
    entries = [part.strip() for part in re.split(r"[;\n]", raw) if part.strip()]
    if len(entries) == 1 and "," in entries[0]:
        parts = [part.strip() for part in entries[0].split(",") if part.strip()]
        if all(part.startswith(URL_PREFIXES) or _named(part) for part in parts):
            return parts
    return entries


def _named(entry: str) -> bool:
    name, sep, _target = entry.partition("=")
    return bool(sep) and SERVER_NAME.fullmatch(name.strip()) is not None


def _entry(entry: str) -> tuple[str, str]:
    """(name, target); the name is "" for a bare command or URL."""
    if _named(entry):
        name, _sep, target = entry.partition("=")
        return name.strip(), target.strip()
    return "", entry


def _json_pairs(parsed: Any) -> list[tuple[str, str]]:
    if isinstance(parsed, list):
        if not all(isinstance(item, str) for item in parsed):
            raise ValueError("a JSON list must hold commands or URLs (strings)")
        return [("", item.strip()) for item in parsed]
    if not isinstance(parsed, dict):
        raise ValueError('must be {"name": "command or URL"} or a list of them')
    if set(parsed) == {"mcpServers"} and isinstance(parsed["mcpServers"], dict):
        parsed = parsed["mcpServers"]
    return [(str(name).strip(), _json_target(str(name), spec)) for name, spec in parsed.items()]


def _json_target(name: str, spec: Any) -> str:
    if isinstance(spec, str):
        return spec.strip()
    if not isinstance(spec, dict):
        raise ValueError(f'server "{name}": give a command or URL, or an object')
    if isinstance(spec.get("url"), str):
        return str(spec["url"]).strip()
    command, args, env = spec.get("command"), spec.get("args", []), spec.get("env", {})
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f'server "{name}": an object needs "command" (and "args") or "url"')
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ValueError(f'server "{name}": "args" must be a list of strings')
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError(f'server "{name}": "env" must map names to strings')
    variables = [f"{key}={value}" for key, value in env.items()]
    words = (["env", *variables] if variables else []) + [command.strip(), *args]
    return shlex.join(words)


def _auto_name(target: str, taken: dict[str, str]) -> str:
    """A name for an unnamed server: the URL's host, or the command's program."""
    if target.startswith(URL_PREFIXES):
        base = urlsplit(target).hostname or "server"
    else:
        try:
            words = shlex.split(target)
        except ValueError:
            words = target.split()
        program = words[0].rsplit("/", 1)[-1] if words else "server"
        # `python -m package.server` or `python server.py`: the module or script names it.
        if program.startswith("python") or program in ("uv", "uvx", "npx", "node"):
            rest = [w for w in words[1:] if not w.startswith("-") and w != "run"]
            program = rest[0].rsplit("/", 1)[-1] if rest else program
        base = program.removesuffix(".py").removesuffix(".js").rsplit(".", 1)[-1]
    base = re.sub(r"_{2,}", "_", re.sub(r"[^A-Za-z0-9_-]", "_", base)).strip("_-")[:28] or "server"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name
