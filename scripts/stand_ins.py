"""Loopback stand-ins for Telegram and the LLM (the tests' fakes), for a bot running
elsewhere, e.g. in docker compose (scripts/docker_smoke.sh): serve them on PORT (Telegram)
and PORT + 1 (the LLM, /v1), wait for the bot to poll, ask one question as a user, and
exit 0 once the answer arrives (1 on timeout)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

USER = 4242


async def serve(port: int, question: str, patience: float) -> int:
    tg = await FakeTelegram().start("0.0.0.0", port)
    llm = await FakeLLM().start("0.0.0.0", port + 1)
    print("ready", flush=True)
    try:
        await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), patience, "the bot polls")
        print("the bot polls", flush=True)
        tg.push_text(USER, question)
        expected = f"Echo: {question}"
        await tg.wait_for(lambda: expected in tg.texts(USER), patience, "the answer")
        print(f"answered: {expected}", flush=True)
        return 0
    except AssertionError as exc:
        print(f"failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        await tg.close()
        await llm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--ask", default="hello from compose")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    return asyncio.run(serve(args.port, args.ask, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
