"""A real SQLite database with the product's schema, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from leadvibe.db.migrate import apply_migrations


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apsw.Connection]:
    c = apsw.Connection(str(Path(tmp_path_factory.mktemp("store")) / "t.db"))
    apply_migrations(c)
    yield c
    c.close()
