"""A wing's public surface, imported on first use.

Every wing (a package of `ai_tg_bot`) declares what other wings may use in its
`__init__`: the names in `__all__`, imported under `TYPE_CHECKING` for the type checker and
the import contracts, and resolved at run time by `lazy_surface` when first asked for. So
importing a wing costs nothing until a name is used: the command line answers `--help` and
`health` without loading the bot, the document extraction child (`python -m
ai_tg_bot.media.extraction`) does not load the database, and `python -m` on a wing's module
finds it not yet imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_surface(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: `exports` maps each public name to the module
    that defines it (relative to the package when it starts with a dot)."""

    def lookup(name: str) -> object:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(source, package)
        value = getattr(module, name)
        # Cached in the package, so later lookups are plain attribute reads.
        importlib.import_module(package).__dict__[name] = value
        return value

    return lookup
