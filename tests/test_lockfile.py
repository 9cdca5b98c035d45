"""The dependency set is pinned (constraints.txt) and every install path uses the pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not a pin: {line}"
            pins[_norm(name)] = version
    return pins


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("test", "build"):
        declared += project["optional-dependencies"][extra]
    names = {_norm(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in declared}
    assert names - set(_pins()) == set()


def test_ci_runs_exactly_the_readmes_test_command_with_the_pins() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"\*\*Run the tests\*\*.*?```sh\n(.+?)\n```", readme, re.S).group(1)  # type: ignore[union-attr]
    assert "-c constraints.txt" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
    serve = re.search(r"\*\*Run the server\*\*.*?```sh\n(.+?)\n```", readme, re.S).group(1)  # type: ignore[union-attr]
    assert "-c constraints.txt" in serve
    assert "-c constraints.txt" in (ROOT / "scripts" / "build_binary.sh").read_text()
