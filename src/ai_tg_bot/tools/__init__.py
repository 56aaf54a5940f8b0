"""MCP tools: the servers (one long-lived link each), who may use which tool, and the
rounds of a tool-using answer.
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.tools.link import ServerState as ServerState
    from ai_tg_bot.tools.rounds import SEPARATOR as SEPARATOR
    from ai_tg_bot.tools.rounds import ToolCall as ToolCall
    from ai_tg_bot.tools.rounds import answer_text as answer_text
    from ai_tg_bot.tools.rounds import expand as expand
    from ai_tg_bot.tools.rounds import records as records
    from ai_tg_bot.tools.rounds import shown_name as shown_name
    from ai_tg_bot.tools.servers import Toolbox as Toolbox
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "SEPARATOR": ".rounds",
            "ServerState": ".link",
            "ToolCall": ".rounds",
            "Toolbox": ".servers",
            "answer_text": ".rounds",
            "expand": ".rounds",
            "records": ".rounds",
            "shown_name": ".rounds",
        },
    )

__all__ = [
    "SEPARATOR",
    "ServerState",
    "ToolCall",
    "Toolbox",
    "answer_text",
    "expand",
    "records",
    "shown_name",
]
