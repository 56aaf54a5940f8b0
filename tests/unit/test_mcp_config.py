"""MCP_SERVERS: every accepted form, and a clear line for each malformed one."""

from __future__ import annotations

import shlex

import pytest

from ai_tg_bot.config.mcp import parse_mcp_servers
from ai_tg_bot.config.settings import SettingsError, load_settings

TOKEN = "123456:test-token"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("calc=python -m calc; web=https://tools.example/mcp",
         {"calc": "python -m calc", "web": "https://tools.example/mcp"}),
        ("calc=python -m calc\nweb=http://127.0.0.1:9/mcp",
         {"calc": "python -m calc", "web": "http://127.0.0.1:9/mcp"}),
        ("python -m tests.fakes.mcp_server", {"mcp_server": "python -m tests.fakes.mcp_server"}),
        ("http://127.0.0.1:8000/mcp", {"127_0_0_1": "http://127.0.0.1:8000/mcp"}),
        ("http://a.local/mcp,http://b.local/mcp",
         {"a_local": "http://a.local/mcp", "b_local": "http://b.local/mcp"}),
        ("uvx mcp-server-fetch", {"mcp-server-fetch": "uvx mcp-server-fetch"}),
        ("python server.py --port=1", {"server": "python server.py --port=1"}),
        ('["python s.py", "python s.py"]', {"s": "python s.py", "s-2": "python s.py"}),
        ('{"calc": "python -m calc"}', {"calc": "python -m calc"}),
        ('{"web": {"url": "https://h/mcp"}}', {"web": "https://h/mcp"}),
    ],
)  # fmt: skip
def test_accepted_forms(raw: str, expected: dict[str, str]) -> None:
    assert parse_mcp_servers(raw) == expected


def test_the_desktop_clients_shape_with_args_and_env() -> None:
    raw = (
        '{"mcpServers": {"calc": {"command": "python", "args": ["-m", "calc srv"],'
        ' "env": {"API_KEY": "k 1"}}}}'
    )
    servers = parse_mcp_servers(raw)
    assert shlex.split(servers["calc"]) == ["env", "API_KEY=k 1", "python", "-m", "calc srv"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("a__b=python x", 'no "__"'),
        ("calc=python x;calc=python y", "listed twice"),
        ("calc=", "has no command or URL"),
        ('calc=python "unclosed', "malformed"),
        ("{", "not valid JSON"),
        ('{"calc": 1}', "give a command or URL"),
        ('{"calc": {"args": []}}', 'needs "command"'),
        ('{"calc": {"command": "x", "args": "y"}}', '"args" must be a list'),
        ("[1]", "must hold commands or URLs"),
    ],
)
def test_malformed_values_stop_start_up_naming_the_setting(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(telegram_bot_token=TOKEN, mcp_servers=raw)
    assert str(caught.value).startswith("Invalid setting MCP_SERVERS: ")
    assert message in str(caught.value)
