"""What the supervisor tests run in their worker processes: nothing heavy to import, so a
process starts in a fraction of a second (the real worker imports the whole bot)."""

from __future__ import annotations

import sys
import time


def exit_with(code: int, index: int) -> None:
    """Die at once with `code`."""
    sys.exit(code)


def first_exits_others_wait(code: int, index: int) -> None:
    """Worker 0 exits with `code`; the others wait to be stopped (SIGTERM)."""
    if index == 0:
        sys.exit(code)
    time.sleep(60)
