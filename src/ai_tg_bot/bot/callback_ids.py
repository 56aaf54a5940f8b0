"""Numbers carried in button data: what a pressed button may claim.

Telegram ids and the database's keys are signed 64-bit integers. A button's data comes
back from the client as text anyone can forge, so a number past 2^63 - 1 is refused when
the data is parsed (the button then answers "expired") instead of reaching the database
as an out-of-range value and failing with a traceback.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# The largest value a BIGINT (PostgreSQL) or INTEGER (SQLite) column holds.
MAX_ID = 2**63 - 1

# A user id, a conversation id, an amount: positive and within 64 bits.
PositiveId = Annotated[int, Field(gt=0, le=MAX_ID)]
