"""Print the gzipped size of what the dashboard's first screen loads (JS + CSS) against its budget.

The first screen is the page's entry (sign-in and the app shell) plus the Overview screen a person lands on after
signing in, with every chunk and stylesheet those import. Read from the Vite manifest of a build:
`python3 scripts/web_size.py leadvibe/static/dashboard`.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

BUDGET_KB = 150
FIRST_SCREEN = ("index.html", "src/screens/Overview.svelte")


def first_screen_files(manifest: dict[str, dict]) -> list[str]:
    """Output files (JS and CSS) of the first screen's manifest entries and their static imports."""
    files: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        chunk = manifest[key]
        files.append(chunk["file"])
        files.extend(chunk.get("css", []))
        for imported in chunk.get("imports", []):
            visit(imported)

    for key in FIRST_SCREEN:
        visit(key)
    return list(dict.fromkeys(files))


def main(build: Path) -> int:
    """Print each file and the total; exit 1 over budget."""
    manifest = json.loads((build / ".vite" / "manifest.json").read_text())
    total = 0
    for name in first_screen_files(manifest):
        size = len(gzip.compress((build / name).read_bytes(), compresslevel=9, mtime=0))
        total += size
        print(f"  {size / 1024:7.1f} KB  {name}")
    everything = sum(len(gzip.compress(f.read_bytes(), 9, mtime=0)) for f in (build / "assets").iterdir())
    print(f"first screen (JS + CSS, gzipped): {total / 1024:.1f} KB of a {BUDGET_KB} KB budget")
    print(f"whole dashboard (every screen, gzipped): {everything / 1024:.1f} KB")
    return 0 if total <= BUDGET_KB * 1024 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "leadvibe/static/dashboard")))
