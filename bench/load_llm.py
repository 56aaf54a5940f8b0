"""The slow streaming LLM stand-in of bench/telegram_load.py, in a process of its own:
`python -m bench.load_llm --answer-seconds 33 --chunks 33`.

OpenAI-compatible chat completions, streamed: the role event at once, then the answer in
`chunks` pieces spread evenly over `answer_seconds` (the last piece, the finish event, the
usage and `[DONE]` go out together). Each question carries its turn's token (`turn-N`),
and each answer is a function of it, so the bench can tell which request and which final
Telegram message belong to which turn. Timestamps are `time.monotonic()`
(CLOCK_MONOTONIC: one clock for every process on the machine).

Prints its base URL on the first line of stdout, serves until stdin closes, then prints
what it recorded as one JSON line: per turn, when its request arrived and when its stream
ended. A separate process so its CPU and memory are not counted against the bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any

from aiohttp import web

TOKEN = re.compile(r"\bturn-(\d+)\b")
_WORDS = ("Paris", "grew", "from", "a", "Roman", "town", "on", "the", "Seine", "into")


def question(turn: int) -> str:
    """The question of turn `turn`, carrying its token."""
    return f"turn-{turn}: tell me something about the history of Paris, briefly please."


def answer_pieces(turn: int, chunks: int) -> list[str]:
    """The answer to turn `turn`, as the `chunks` pieces it is streamed in."""
    pieces = [f"Answer for turn-{turn}:"]
    pieces += [f" {_WORDS[i % len(_WORDS)]}" for i in range(max(chunks, 2) - 2)]
    return [*pieces, f" end of turn-{turn}."]


def answer(turn: int, chunks: int) -> str:
    """The whole answer to turn `turn`, as a user should finally see it."""
    return "".join(answer_pieces(turn, chunks))


def turn_of(text: str) -> int | None:
    """The turn whose token `text` carries, if any."""
    found = TOKEN.search(text)
    return int(found[1]) if found else None


class SlowLLM:
    """Streams every answer over `answer_seconds`; remembers when each turn came and went."""

    def __init__(self, answer_seconds: float, chunks: int) -> None:
        self.answer_seconds = answer_seconds
        self.chunks = max(chunks, 2)
        self.received: dict[int, float] = {}
        self.finished: dict[int, float] = {}
        self.repeated = 0  # requests for a turn already asked (a retry, a redelivery)
        self.aborted = 0  # streams the client left before their end
        self.active = 0
        self.peak_active = 0

    async def completions(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        content = users[-1].get("content") if users else ""
        turn = turn_of(content if isinstance(content, str) else json.dumps(content))
        key = -1 if turn is None else turn
        if key in self.received:
            self.repeated += 1
        self.received.setdefault(key, arrived)
        pieces = answer_pieces(key, self.chunks)
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            return await self._stream(request, body, pieces, key)
        finally:
            self.active -= 1

    async def _stream(
        self, request: web.Request, body: dict[str, Any], pieces: list[str], key: int
    ) -> web.StreamResponse:
        head = {"id": f"chatcmpl-{key}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "fake-model")}  # fmt: skip

        def event(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return f"data: {json.dumps(head | {'choices': [choice]})}\n\n"

        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        usage = {"prompt_tokens": prompt // 4 + 1, "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await response.write(event({"role": "assistant", "content": ""}).encode())
            started = time.monotonic()
            interval = self.answer_seconds / len(pieces)
            for index, piece in enumerate(pieces):
                await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.monotonic()))
                if index < len(pieces) - 1:
                    await response.write(event({"content": piece}).encode())
                    continue
                last = event({"content": piece}) + event({}, "stop")
                last += f"data: {json.dumps(head | {'choices': [], 'usage': usage})}\n\n"
                await response.write((last + "data: [DONE]\n\n").encode())
            await response.write_eof()
            self.finished[key] = time.monotonic()
        except (ConnectionResetError, asyncio.CancelledError):
            self.aborted += 1
            raise
        return response

    def report(self) -> dict[str, Any]:
        return {"received": self.received, "finished": self.finished,
                "repeated": self.repeated, "aborted": self.aborted,
                "peak_active": self.peak_active, "cpu_seconds": time.process_time()}  # fmt: skip


async def serve(answer_seconds: float, chunks: int) -> None:
    llm = SlowLLM(answer_seconds, chunks)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", llm.completions)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    finally:
        print(json.dumps(llm.report()), flush=True)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answer-seconds", type=float, default=33.0, help="per answer")
    parser.add_argument("--chunks", type=int, default=33, help="pieces per answer")
    args = parser.parse_args()
    asyncio.run(serve(args.answer_seconds, args.chunks))


if __name__ == "__main__":
    main()
