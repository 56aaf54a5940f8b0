"""Fill the English catalog from the source: English is the msgid, so every msgstr is
the msgid itself (singular and plural forms). Run by `make i18n-extract`."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def fill(path: Path) -> int:
    """Make every message of the catalog at `path` its own translation; how many changed."""
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    changed = 0
    for message in catalog:
        if not message.id:
            continue
        wanted = tuple(message.id) if isinstance(message.id, tuple | list) else message.id
        if message.string != wanted or message.fuzzy:
            message.string = wanted
            message.flags.discard("fuzzy")
            changed += 1
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, sort_output=True)
    return changed


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(f"{target}: {fill(target)} English messages filled")
