"""The worker supervisor's restart policy, with real (tiny) processes: a worker that keeps
dying is restarted with a growing back-off, then given up on (exit 1); a configuration
error (exit 2) is not restarted and stops the others."""

from __future__ import annotations

import json
import logging

import pytest

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.observability.logs import JsonFormatter, configure_logging
from ai_tg_bot.process.workers import RestartPolicy, Supervisor, describe_exit
from tests.unit.worker_targets import exit_with, first_exits_others_wait

QUICK = RestartPolicy(first_delay=0.1, max_delay=0.2, stable_seconds=60, max_quick_deaths=3)


def test_the_back_off_doubles_up_to_its_ceiling() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(1) == "exited with 1"


async def test_a_worker_that_keeps_dying_is_restarted_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ai_tg_bot.process.workers")
    supervisor = Supervisor(exit_with, 1, 1, stop_timeout=5, policy=QUICK)
    assert await supervisor.run() == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("worker 0 started" in m for m in messages) == 3
    restarts = [m for m in messages if "restarting it in" in m]
    assert [m.rsplit(" ", 1)[1] for m in restarts] == ["0.1s", "0.2s"]
    assert "exited with 1" in restarts[0]
    assert any("3 deaths in a row" in m and "giving up" in m for m in messages), messages
    assert messages[-1] == "workers stopped (exit code 1)"


async def test_a_configuration_error_is_not_restarted_and_stops_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ai_tg_bot.process.workers")
    supervisor = Supervisor(first_exits_others_wait, 2, 2, stop_timeout=20, policy=QUICK)
    assert await supervisor.run() == 2
    messages = [r.getMessage() for r in caplog.records]
    assert not any("restarting" in m for m in messages), messages
    assert any("worker 0" in m and "a configuration problem" in m for m in messages)
    assert all(slot.process is None for slot in supervisor.slots)
    assert messages[-1] == "workers stopped (exit code 2)"


def test_a_workers_log_lines_name_it() -> None:
    record = logging.LogRecord("ai_tg_bot.x", logging.INFO, __file__, 1, "turn", (), None)
    record.user_id = 5  # a field, as `extra=` sets it
    entry = json.loads(JsonFormatter(worker=1).format(record))
    assert (entry["worker"], entry["message"], entry["user_id"]) == (1, "turn", 5)
    assert "worker" not in json.loads(JsonFormatter().format(record))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(Settings(_env_file=None), worker=3)
        [handler] = root.handlers
        assert handler.format(record).endswith(" INFO [worker 3] ai_tg_bot.x: turn user_id=5")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
