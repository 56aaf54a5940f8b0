"""Each wing's public surface: every name in `__all__` resolves at run time to the object
its TYPE_CHECKING import names (the map given to `lazy_surface` and the imports agree)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ai_tg_bot

PACKAGE = Path(ai_tg_bot.__file__).parent
WINGS = sorted(
    info.name
    for info in pkgutil.iter_modules([str(PACKAGE)])
    if info.ispkg and info.name not in ("migrations", "locales")
)


def typed_imports(wing: str) -> dict[str, str]:
    """Name -> defining module, as the wing's TYPE_CHECKING block imports it."""
    tree = ast.parse((PACKAGE / wing / "__init__.py").read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module
                for alias in statement.names:
                    names[alias.asname or alias.name] = statement.module
    return names


def test_every_wing_has_a_surface() -> None:
    assert set(WINGS) >= {"bot", "config", "db", "llm", "media", "observability"}
    assert len(WINGS) == 11, WINGS


@pytest.mark.parametrize("wing", WINGS)
def test_every_public_name_resolves_to_what_its_import_names(wing: str) -> None:
    module = importlib.import_module(f"ai_tg_bot.{wing}")
    declared = typed_imports(wing)
    assert sorted(module.__all__) == sorted(declared), "__all__ and the TYPE_CHECKING imports"
    for name, home in declared.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), name), name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018 - the lookup is the test


def test_importing_every_wing_loads_none_of_them() -> None:
    """A wing is free to import until a name is used (the CLI's speed, the extraction
    child's memory): a fresh interpreter importing all of them loads no SQLAlchemy, no
    aiogram, no pydantic."""
    code = (
        "import sys\n"
        + "".join(f"import ai_tg_bot.{wing}\n" for wing in WINGS)
        + "print(sorted(m for m in ('sqlalchemy', 'aiogram', 'pydantic', 'openai')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
