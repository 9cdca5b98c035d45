"""The docs hold: every setting is documented, the security page names real tests, examples answer as shown."""

from pathlib import Path
from typing import Any

import msgspec
import pytest

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


# The curl examples of the guides, run against the app: what a reader copies must answer what the page shows.

DOCS = Path(__file__).resolve().parent.parent / "docs"
_ID = r"[a-z]{2,3}_[a-z0-9]{16}"


def _sh_examples(page: str) -> list[tuple[str, str | None]]:
    """(curl command, the `# NNN {...}` answer shown right after it, if any) of a page's ```sh blocks."""
    import re

    found: list[tuple[str, str | None]] = []
    for block in re.findall(r"```sh\n(.*?)```", (DOCS / page).read_text(), re.S):
        lines = re.sub(r"\\\n\s*", " ", block).split("\n")
        merged: list[str] = []
        for line in lines:  # a -d '...' body may span lines
            if merged and merged[-1].count("'") % 2:
                merged[-1] += "\n" + line
            else:
                merged.append(line.strip())
        for i, line in enumerate(merged):
            if line.startswith("curl "):
                nxt = merged[i + 1] if i + 1 < len(merged) else ""
                shown = re.match(r"# (4\d\d \{.*)", nxt)
                found.append((line, shown.group(1) if shown else None))
    return found


def _parse_curl(line: str, base: str) -> tuple[str, str, str | None, bool]:
    """method, path, body, sent with the API credential (`-u`) rather than the session of `$TOKEN`."""
    import re

    method = re.search(r"-X (\w+)", line)
    path = re.search(base.replace("$", r"\$") + r"(/[^\s\"']*)", line)
    body = re.search(r"-d '(.*?)'", line, re.S)
    assert path, line
    return (method.group(1) if method else "GET", path.group(1), body.group(1) if body else None,
            '-u "$CLIENT_ID:$CLIENT_SECRET"' in line)


async def test_shown_refusals_are_what_the_server_answers(api: Any) -> None:
    """Every example of a guide shown answering `# 4xx {"error": ...}` gets that status and sentence."""
    import re

    credential = await api.credential()
    checked = []
    for page in sorted(p.name for p in DOCS.glob("*.md")):
        for line, shown in _sh_examples(page):
            if not shown or "$TRIGGER_ID" in line or "$DELIVERY_ID" in line or "$RULESET_ID" in line:
                continue
            method, path, body, basic = _parse_curl(line, "$H")
            headers = {**(credential if basic else api.headers), "Content-Type": "application/json"}
            r = await api.request(method, path, headers=headers, content=body)
            status, error = int(shown[:3]), re.search(r'"error":"((?:[^"\\]|\\.)*)"', shown)
            assert error, shown
            assert (r.status_code, r.json().get("error")) == (status, error.group(1)), f"{page}: {line}"
            checked.append(path)
    assert len(checked) >= 3, checked  # /events?page=0, the org-admin setting, the metadata-address webhook


async def test_trigger_examples_are_accepted_by_a_server_with_default_settings(api: Any) -> None:
    """A trigger example that shows no refusal is created as written (its webhook URL passes the SSRF rules)."""
    credential = await api.credential()
    created = 0
    for line, shown in _sh_examples("notifications.md"):
        method, path, body, basic = _parse_curl(line, "$H")
        if method != "POST" or shown or "webhook_url" not in (body or "") or "/simulate" in path:
            continue
        headers = {**(credential if basic else api.headers), "Content-Type": "application/json"}
        r = await api.request(method, path, headers=headers, content=body)
        assert r.status_code == 201, f"{line}\n-> {r.status_code} {r.text}"
        created += 1
    assert created == 4  # milestone, sequence, pattern, surge


def test_pages_that_use_base_say_what_it_is() -> None:
    """`$BASE` in an example is explained on its page (the README's first calls keep the address in `$H`)."""
    missing = [p.name for p in DOCS.glob("*.md") if "$BASE/" in p.read_text() and "`$BASE` is" not in p.read_text()]
    assert not missing, missing


def _pairs(value: Any) -> list[tuple[str, Any]]:
    """Every (key, value) of a JSON answer at any depth, in document order."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in [(k, v), *_pairs(v)]]
    if isinstance(value, list):
        return [pair for v in value for pair in _pairs(v)]
    return []


@pytest.mark.parametrize("flow", ["set-up", "sample data"])
async def test_fit_page_examples_answer_as_shown(api: Any, flow: str) -> None:
    """docs/fit-and-accounts.md run top to bottom in a fresh OU (the sample-data examples, shown on a fresh
    install, in one of their own): every value its answers show (ids, times and elided parts aside) is what the
    server answers; an id the page shows stands for the one the server gave."""
    import json
    import re

    from tests.helpers import enable_abm, wait_idle

    headers = {**api.headers, "Content-Type": "application/json"}
    ids: dict[str, str] = {}
    blocks = re.findall(r"```\n(.*?)```", (DOCS / "fit-and-accounts.md").read_text(), re.S)
    seed = next(i for i, b in enumerate(blocks) if "/admin/seed" in b)
    if flow == "sample data":
        await enable_abm(api)  # what the seed does on a fresh install (other tests' leads may keep it off here)
    lines = [ln for block in (blocks[:seed] if flow == "set-up" else blocks[seed:])
             for ln in block.split("\n") if ln.strip()]
    compared = 0
    for i, line in enumerate(lines):
        if not line.startswith("$ curl "):
            continue
        for shown_id, real in ids.items():
            line = line.replace(shown_id, real)
        method, path, body, _ = _parse_curl(line, "$BASE")
        r = await api.request(method, path, headers=headers, content=body)
        if path.startswith(("/ingest", "/profile/rulesets", "/accounts/rules", "/admin/seed")):
            await wait_idle(api)
            await api.rt.fit.wait_idle()  # profile and account rules re-score existing leads in the background
        shown = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("$ ") else None
        assert r.status_code < 300 or (shown and '"error"' in shown), f"{line}\n-> {r.status_code} {r.text}"
        if shown is None:
            continue
        actual = _pairs(r.json())
        seen: dict[str, int] = {}
        for key, raw in re.findall(r'"(\w+)":("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)', shown):
            value = json.loads(raw)
            nth = seen.get(key, 0)
            seen[key] = nth + 1
            mine = [v for k, v in actual if k == key]
            assert len(mine) > nth, f"{line}: `{key}` is missing from {r.text}"
            if isinstance(value, str) and re.fullmatch(_ID, value):
                ids.setdefault(value, mine[nth])
            elif not (isinstance(value, str) and (re.match(r"\d{4}-\d\d-\d\dT", value) or "..." in value)):
                assert mine[nth] == value, f"{line}: `{key}` is {mine[nth]!r}, the page shows {value!r}"
                compared += 1
    assert compared > (50 if flow == "set-up" else 15), compared
