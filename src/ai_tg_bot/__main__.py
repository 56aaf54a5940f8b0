"""`python -m ai_tg_bot`: the same as the `ai-tg-bot` console script (process.cli)."""

from __future__ import annotations

import sys

from ai_tg_bot.process import main

if __name__ == "__main__":
    sys.exit(main())
