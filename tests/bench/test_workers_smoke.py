"""Benchmark 7 (bench/workers.py), tiny: it runs the real processes with 1 and 2 workers
and reports sane, complete results (no timings asserted)."""

from __future__ import annotations

import pytest

from bench import workers


@pytest.fixture(params=["sqlite", "postgresql"])
def backends(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """One backend per test; PostgreSQL skips (or fails in CI) like the other suites."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_server")
    return (request.param,)


async def test_workers(backends: tuple[str, ...]) -> None:
    config = workers.Config(users=4, messages_per_user=2, repeats=1)
    result = await workers.run(config, backends)
    backend = backends[0]
    assert set(result.raw) == {backend}
    assert [row[:3] for row in result.rows] == [[backend, 1, 8], [backend, 2, 8]]
    assert all(len(row) == len(result.columns) for row in result.rows)
    runs = result.raw[backend]
    for count in ("1", "2"):
        found = runs[count]
        asked = 4 * (1 + 2)  # a warm-up message and one burst of two, per user
        assert found["asked"] == asked
        assert found["answers"] == asked, "every question answered exactly once"
        assert sum(found["turns_by_worker"].values()) == asked
        assert found["exit_code"] == 0, "SIGTERM stopped it cleanly"
        assert found["history_ok"]
        assert found["turns_per_second"] > 0
        cpu = found["cpu_ms_per_turn"]
        assert set(cpu) == {"bot", "postgresql", "stand-ins", "poster"}
        assert cpu["bot"] > 0
        assert cpu["postgresql"] >= 0
        if backend == "sqlite":
            assert cpu["postgresql"] == 0, "SQLite runs in the bot's processes"
        assert 0 <= found["machine_busy_percent"] <= 100
    assert set(runs["1"]["turns_by_worker"]) == {"-"}, "one process: untagged lines"
    assert set(runs["2"]["turns_by_worker"]) <= {"0", "1"}
    [target] = result.targets
    assert target.value > 0
    assert target.value == target.value  # not NaN
