"""The ±10^9 integer range (SEMANTICS §12) is written once, in `leadvibe/limits.py`: the API's checks, its OpenAPI
ranges and the seed's open top bands all follow it."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec.inspect as mi

from leadvibe import seed_data
from leadvibe.api.bounds import Signed
from leadvibe.api.condition_fields import Weight
from leadvibe.limits import INT_LIMIT

ROOT = Path(__file__).resolve().parent.parent
# 10^9 as an integer, and not part of a longer number (10^12 is another limit). `1e9` is left out: it converts
# nanoseconds to seconds in the tools.
COPY = re.compile(r"(?<![\d_])1_?000_?000_?000(?![\d_])|10\s*\*\*\s*9\b")


def test_the_bound_is_written_once() -> None:
    copies = [f"{path.relative_to(ROOT)}:{n}"
              for folder in ("leadvibe", "scripts") for path in sorted((ROOT / folder).rglob("*.py"))
              for n, line in enumerate(path.read_text().splitlines(), 1)
              if COPY.search(line) and path.name != "limits.py"]
    assert copies == []


def test_every_use_follows_it() -> None:
    for bounded in (Signed, Weight):
        info = mi.type_info(bounded)
        info = info.type if isinstance(info, mi.Metadata) else info
        assert isinstance(info, mi.IntType) and (info.ge, info.le) == (-INT_LIMIT, INT_LIMIT)
    tops = [levels[-1][2] for levels in (seed_data.ENGAGEMENT_LEVELS, seed_data.PROFILE_LEVELS,
                                         seed_data.ACCOUNT_LEVELS)]
    assert tops == [INT_LIMIT] * 3
