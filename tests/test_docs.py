"""Every setting is documented in the README (a new one without docs fails here)."""

from pathlib import Path

import msgspec

from leadvibe.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"LEADVIBE_{f.name.upper()}" for f in msgspec.structs.fields(Settings)
               if f"`LEADVIBE_{f.name.upper()}`" not in README]
    assert not missing, f"undocumented settings: {missing}"
