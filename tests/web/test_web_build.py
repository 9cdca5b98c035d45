"""The dashboard's client code and its committed build: the JavaScript unit tests (SSE reader, API client, score
ledger, rule drafts) under Node's test runner, and the committed files against a fresh build of web/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
COMMITTED = ROOT / "leadvibe" / "static" / "dashboard"


def node() -> str:
    """Node's path; in CI it must be there, elsewhere its absence skips (the Python side needs no Node)."""
    found = shutil.which("node")
    if found and shutil.which("npm"):
        return found
    if os.environ.get("CI"):
        pytest.fail("Node.js is not installed: the dashboard's client tests need it in CI")
    pytest.skip("Node.js is not installed")


def test_client_unit_tests_pass() -> None:
    r = subprocess.run([node(), "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "# fail 0" in r.stdout


def files(base: Path) -> dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_committed_build_matches_a_fresh_build(tmp_path: Path) -> None:
    node()
    out = tmp_path / "dashboard"
    r = subprocess.run([str(ROOT / "scripts" / "build_web.sh")], env={**os.environ, "LEADVIBE_WEB_OUT": str(out)},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    fresh, committed = files(out), files(COMMITTED)
    assert sorted(fresh) == sorted(committed), "rebuild with scripts/build_web.sh and commit the output"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert changed == [], f"rebuild with scripts/build_web.sh and commit the output: {changed}"
    assert "first screen (JS + CSS, gzipped)" in r.stdout
