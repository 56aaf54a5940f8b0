"""Every benchmark, tiny: they still run and report sane, complete results (no timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import end_to_end, history_size, slow_llm, storage_cost
from bench.report import print_results, write
from bench.stats import Result


@pytest.fixture(params=["sqlite", "postgresql"])
def backends(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """One backend per test; PostgreSQL skips (or fails in CI) like the other suites."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_server")
    return (request.param,)


def check_result(result: Result, backends: tuple[str, ...]) -> None:
    assert set(result.raw) == set(backends)
    assert result.rows
    assert all(len(row) == len(result.columns) for row in result.rows)
    assert all(t.value == t.value and t.value >= 0 for t in result.targets)  # no NaN


async def test_storage_cost(backends: tuple[str, ...]) -> None:
    config = storage_cost.Config(concurrency=(1, 3), turns_per_run=6, repeats=1)
    result = await storage_cost.run(config, backends)
    check_result(result, backends)
    rows = result.raw[backends[0]]
    assert [r["users"] for r in rows] == [1, 3]
    assert [r["turns"] for r in rows] == [6, 6]
    assert [r["floor"]["turns"] for r in rows] == [6, 6]
    assert rows[0]["history_ok"], "every user keeps exactly the history limit"
    assert rows[0]["project_round_trips"]["statements"] > 0
    assert all(r["cost_ratio"] > 0 for r in rows)


async def test_history_size(backends: tuple[str, ...]) -> None:
    config = history_size.Config(sizes=(300, 1_500), measured_users=2, turns_per_run=2,
                                 repeats=1)  # fmt: skip
    result = await history_size.run(config, backends)
    check_result(result, backends)
    found = result.raw[backends[0]]
    assert [r["size"] for r in found["rows"]] == [300, 1_500]
    assert all(r["turns"] == 2 for r in found["rows"])
    assert set(found["plans"]) == {"history", "trim", "quota"}
    assert all(found["plans"].values())


async def test_slow_llm(backends: tuple[str, ...]) -> None:
    config = slow_llm.Config(users=12, delay_seconds=0.2, turns_per_user=2, pool_size=2,
                             repeats=1)  # fmt: skip
    result = await slow_llm.run(config, backends)
    check_result(result, backends)
    found = result.raw[backends[0]]
    assert found["all_completed"]
    assert found["completed"] == [24]
    assert found["history_ok"]
    assert found["rss_peak_mb"] > 0
    assert found["floor"]["storage_p99_ms"] > 0


async def test_end_to_end(backends: tuple[str, ...]) -> None:
    config = end_to_end.Config(users=3, messages_per_user=2, repeats=2, bursts=2)
    result = await end_to_end.run(config, backends)
    check_result(result, backends)
    found = result.raw[backends[0]]
    # A warm-up burst, then two repeats of two bursts, each of 6 turns, for both bots.
    assert found["llm_calls"] == {"real": 30, "baseline": 30}
    assert found["history_ok"]
    assert found["ratio"] > 0
    assert len(found["ratios"]) == 2


def test_report_writes_markdown_and_json(tmp_path: Path) -> None:
    result = Result(name="demo", title="Demo", columns=["a", "b"], rows=[[1, 2.5]])
    print_results([result])
    write([result], {"cpu": "test"}, {"mode": "smoke", "only": ["demo"], "seconds": 1.0},
          tmp_path)  # fmt: skip
    assert "| 1 | 2.50 |" in (tmp_path / "benchmarks.md").read_text()
    assert json.loads((tmp_path / "benchmarks.json").read_text())["results"][0]["name"] == "demo"
