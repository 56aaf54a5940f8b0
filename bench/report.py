"""The table on stdout, docs/benchmarks.md and docs/benchmarks.json."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.stats import Result


def cell(value: Any) -> str:
    """Numbers to a sensible precision, everything else as is."""
    if isinstance(value, bool) or not isinstance(value, float):
        return (
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        )
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def markdown_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def text_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [columns, *[[cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def targets_rows(results: list[Result]) -> list[list[Any]]:
    return [[t.name, t.value, t.describe(), "met" if t.met else "MISSED"]
            for r in results for t in r.targets]  # fmt: skip


def print_results(results: list[Result], *, targets: bool = True) -> None:
    for result in results:
        print(f"\n{result.title} ({result.params.get('seconds', '?')} s)")
        print("\n".join(text_table(result.columns, result.rows)))
    if not targets:
        return
    print("\nTargets")
    print("\n".join(text_table(["target", "value", "limit", ""], targets_rows(results))))


def write(results: list[Result], machine: dict[str, str], meta: dict[str, Any],
          folder: Path) -> None:  # fmt: skip
    """docs/benchmarks.md (tables, targets, machine) and docs/benchmarks.json (raw)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand. Each figure is a "
        "median over repeated runs; each ratio is measured within the same run. Raw figures: "
        "[benchmarks.json](benchmarks.json).",
        "",
        f"Run: {meta['mode']}, {meta['seconds']:.0f} s, benchmarks: {', '.join(meta['only'])}.",
        "",
        "## Machine",
        "",
        *markdown_table(["", ""], [[k, v] for k, v in machine.items()]),
        "",
        "## Targets",
        "",
        *markdown_table(["target", "value", "limit", ""], targets_rows(results)),
    ]
    for result in results:
        lines += ["", f"## {result.title}", "", *markdown_table(result.columns, result.rows)]
        lines += ["", *[f"- {note}" for note in result.notes]] if result.notes else []
    (folder / "benchmarks.md").write_text("\n".join(lines) + "\n")
    raw = {"machine": machine, **meta, "results": [asdict(r) for r in results]}
    (folder / "benchmarks.json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
