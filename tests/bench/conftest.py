"""The benchmark smoke runs: short `make bench` runs that prove the benchmarks still work.
They are marked `bench`: `make test` leaves them out (they take a minute and a half of the
feedback loop), `make test-bench` runs them, and CI runs both."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.bench)
