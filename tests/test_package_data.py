"""A non-editable install (`pip install .`, a wheel) carries every file the program reads besides its code."""

from __future__ import annotations

import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "leadvibe"


def test_every_data_file_of_the_package_is_declared() -> None:
    patterns = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["leadvibe"]
    declared = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    data = {p for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert sorted(str(p.relative_to(PACKAGE)) for p in data - declared) == []
    assert any(p.parent.name == "inbox" for p in declared)  # the inbox file's own migrations
