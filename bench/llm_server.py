"""The LLM stand-in in a process of its own: `python -m bench.llm_server --delay 2`.

Prints its base URL on the first line of stdout and serves until stdin closes. A separate
process so its CPU and memory are not counted against the bot's (see slow_llm.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tests.fakes.llm import FakeLLM


async def serve(delay: float, stalls: int) -> None:
    async with FakeLLM(chunk_size=40) as llm:
        if delay > 0:
            # Every answer pauses after its first event: the client is mid-answer.
            llm.stall_next(delay, after_chunks=1, times=stalls)
        print(llm.base_url, flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per answer")
    parser.add_argument("--stalls", type=int, default=100_000, help="answers that pause")
    args = parser.parse_args()
    asyncio.run(serve(args.delay, args.stalls))


if __name__ == "__main__":
    main()
