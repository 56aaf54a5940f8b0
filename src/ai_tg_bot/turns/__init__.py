"""The transport-free engine of a turn: the service that queues and drains a user's
questions, the answerer (one answer), the view protocols the bot implements, a turn's
report, the lease keeper and the sweep, stopping an answer, waking waiting turns, titles,
summaries; and inline mode's answers (one request per settled query, no conversation).
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.turns.followups import MAX_FOLLOWUPS as MAX_FOLLOWUPS
    from ai_tg_bot.turns.inline import InlineAnswers as InlineAnswers
    from ai_tg_bot.turns.inline import InlineOutcome as InlineOutcome
    from ai_tg_bot.turns.service import TurnService as TurnService
    from ai_tg_bot.turns.views import AnswerView as AnswerView
    from ai_tg_bot.turns.views import TurnResult as TurnResult
    from ai_tg_bot.turns.views import VoiceProblem as VoiceProblem
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "MAX_FOLLOWUPS": ".followups",
            "AnswerView": ".views",
            "InlineAnswers": ".inline",
            "InlineOutcome": ".inline",
            "TurnService": ".service",
            "TurnResult": ".views",
            "VoiceProblem": ".views",
        },
    )

__all__ = [
    "MAX_FOLLOWUPS",
    "AnswerView",
    "InlineAnswers",
    "InlineOutcome",
    "TurnResult",
    "TurnService",
    "VoiceProblem",
]
