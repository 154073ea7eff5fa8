"""Write ``docs/reference/vocabulary.md``, the graft builtins by domain, from ``asyncwf.graft._vocabulary``.

Usage::

    python scripts/gen_vocabulary.py          # rewrite the page
    python scripts/gen_vocabulary.py --check  # exit 1 when the committed page drifted from the table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asyncwf.graft._vocabulary import TABLE

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "vocabulary.md"

INTRO = """\
# Graft vocabulary

The builtins a graft may call, by domain, as the Descartes Labs 1.12 client names them; the backend
also reads each under the other names listed (1.0's bare names, numpy synonyms). Arguments in
brackets are optional, `...` takes any number more, and names in braces may be given by name
(`{any name}`: any). A graft that calls a builtin with other arguments fails with a `TYPING` error
naming the builtin, the graft key and this signature. asyncwf's proxies write these names and
shapes (see [One vocabulary](../guides/compute.md#one-vocabulary)).

This page is written from `asyncwf/graft/_vocabulary.py` by `scripts/gen_vocabulary.py`.
"""


def render() -> str:
    """The page's Markdown."""
    parts = [INTRO]
    for domain, entries in TABLE.items():
        parts.append(f"\n## {domain.capitalize()}\n\n| builtin | also read as |\n|---|---|\n")
        for entry in entries:
            aliases = ", ".join(f"`{a}`" for a in entry.aliases)
            parts.append(f"| `{entry.signature}` | {aliases} |\n")
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page drifted from the table")
    args = parser.parse_args()
    text = render()
    if args.check:
        if PAGE.read_text() != text:
            print(f"{PAGE} drifted from asyncwf/graft/_vocabulary.py: run python scripts/gen_vocabulary.py")
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
