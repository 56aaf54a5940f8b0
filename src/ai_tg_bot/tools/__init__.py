"""Tools: MCP's servers (one long-lived link each), who may use which tool, and the
rounds of a tool-using answer; the built-in `remember` tool (memory).
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.tools.calls import REMEMBER as REMEMBER
    from ai_tg_bot.tools.calls import SEPARATOR as SEPARATOR
    from ai_tg_bot.tools.calls import ToolCall as ToolCall
    from ai_tg_bot.tools.calls import expand as expand
    from ai_tg_bot.tools.calls import records as records
    from ai_tg_bot.tools.calls import shown_name as shown_name
    from ai_tg_bot.tools.calls import tool_line as tool_line
    from ai_tg_bot.tools.link import ServerState as ServerState
    from ai_tg_bot.tools.memory import MemoryTool as MemoryTool
    from ai_tg_bot.tools.rounds import answer_text as answer_text
    from ai_tg_bot.tools.servers import Toolbox as Toolbox
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "MemoryTool": ".memory",
            "REMEMBER": ".calls",
            "SEPARATOR": ".calls",
            "ServerState": ".link",
            "ToolCall": ".calls",
            "Toolbox": ".servers",
            "answer_text": ".rounds",
            "expand": ".calls",
            "records": ".calls",
            "shown_name": ".calls",
            "tool_line": ".calls",
        },
    )

__all__ = [
    "REMEMBER",
    "SEPARATOR",
    "MemoryTool",
    "ServerState",
    "ToolCall",
    "Toolbox",
    "answer_text",
    "expand",
    "records",
    "shown_name",
    "tool_line",
]
