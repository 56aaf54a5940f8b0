"""Process-wide tuning for a long-running bot process."""

from __future__ import annotations

import gc

# Young collections as Python's default; a full collection considered only after 1,000
# middle ones instead of 10 (Python also waits until a quarter of the heap is new).
GC_THRESHOLDS = (700, 10, 1000)


def settle_heap() -> None:
    """Keep the start-up heap out of every later garbage collection.

    Importing aiogram builds a few hundred pydantic models: about 140 MB of objects
    that live as long as the process. Each full collection walked all of them again:
    measured under load (issue 18) as pauses of 0.3-1.15 s every few seconds, the
    event loop stopped meanwhile. `gc.freeze()` moves what exists now to a generation
    the collector skips; the thresholds make full collections of what remains rare.
    Call once, after start-up and before serving.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
