"""Every setting is documented in the README (a new one without docs fails here)."""

from pathlib import Path

import msgspec

from leadvibe.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"LEADVIBE_{f.name.upper()}" for f in msgspec.structs.fields(Settings)
               if f"`LEADVIBE_{f.name.upper()}`" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_every_test_named_in_the_security_page_exists() -> None:
    """docs/security.md says how each promise is tested: every test it names must exist."""
    import re

    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "security.md").read_text()
    missing = []
    for path, _, name in re.findall(r"`(tests/[\w/]+\.py)(::(\w+))?`", page):
        file = root / path
        if not file.exists() or (name and f"def {name}(" not in file.read_text()):
            missing.append(f"{path}::{name}" if name else path)
    shorthand = re.findall(r"`::(\w+)`", page)  # `::name` continues the file named just before it
    for name in shorthand:
        if not any(f"def {name}(" in f.read_text() for f in (root / "tests").rglob("test_*.py")):
            missing.append(name)
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
