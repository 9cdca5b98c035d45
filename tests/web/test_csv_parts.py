"""The dashboard's CSV splitter (web/src/lib/csvparts.js) against Python's csv module, the server's parser: for
generated files (quoted commas, quotes and line breaks, CRLF and CR line ends, blank lines, a BOM, non-ASCII),
the parts it makes, parsed the way POST /import parses them, hold exactly the file's rows (in file order, or
grouped by lead id with each lead's rows in file order) and map every row's line in its part to the line the
whole file has it on. Run by Node over all the files at once."""

from __future__ import annotations

import io
import json
import random
import subprocess
from pathlib import Path

from leadvibe.csvread import Records
from tests.web.test_web_build import WEB, node

# Node reads the cases on stdin and prints what splitCsv made of each (the module's path goes in at MODULE).
SPLIT = """
(async () => {
  const { splitCsv } = await import(MODULE);
  const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  console.log(JSON.stringify(cases.map((c) => {
    try {
      return { parts: splitCsv(c.text, { byLead: c.byLead, partBytes: c.partBytes })
        .map((p) => ({ text: p.text(), bytes: p.bytes, lines: [...p.lines] })) };
    } catch (e) { return { error: e.message }; }
  })));
})();
"""


def _rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(the line it starts on, row) as the server's reader gives them."""
    if text.startswith("\ufeff"):
        text = text[1:]
    records = iter(Records(io.StringIO(text, newline="")))
    _, header = next(records)
    fields = [f.strip().lower() for f in header]
    return [(line, dict(zip(fields, cells, strict=True))) for line, cells in records]


def _cell(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return ""
    if kind == 1:
        return '"' + rng.choice(["a,b", 'say ""hi""', "two\nlines", "crlf\r\nin", "é ü 名"]) + '"'
    return rng.choice(["page_view", "x", "2026-03-01T10:00:00Z", "naïve", "a b", "ld_9"])


def _file(rng: random.Random) -> str:
    end = rng.choice(["\n", "\r\n", "\r"])
    lines = ["lead_id,event_type,email"]
    for _ in range(rng.randrange(1, 40)):
        if rng.random() < 0.08:
            lines.append("")  # a blank line
            continue
        lines.append(",".join([f"ld_{rng.randrange(6)}", _cell(rng), _cell(rng)]))
    text = end.join(lines) + (end if rng.random() < 0.7 else "")
    return ("\ufeff" if rng.random() < 0.2 else "") + text


def _split(cases: list[dict[str, object]], tmp_path: Path) -> list[dict[str, object]]:
    script = tmp_path / "split.cjs"
    script.write_text(SPLIT.replace("MODULE", json.dumps((WEB / "src" / "lib" / "csvparts.js").as_uri())))
    r = subprocess.run([node(), str(script)], input=json.dumps(cases), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_parts_hold_the_files_rows_at_their_lines(tmp_path: Path) -> None:
    rng = random.Random(5)
    cases = [{"text": _file(rng), "byLead": by_lead, "partBytes": rng.choice([40, 120, 10_000])}
             for _ in range(60) for by_lead in (False, True)]
    for case, out in zip(cases, _split(cases, tmp_path), strict=True):
        whole = _rows(str(case["text"]))
        assert "error" not in out, (out, case)
        got: list[tuple[int, dict[str, str]]] = []
        for part in out["parts"]:  # type: ignore[union-attr]
            lines = dict(part["lines"])
            assert part["bytes"] == len(part["text"].encode())
            got += [(lines[line], row) for line, row in _rows(part["text"])]
        if case["byLead"]:
            whole.sort(key=lambda r: r[1]["lead_id"].strip())  # stable: each lead's rows in file order
        assert got == whole


def test_grouping_refuses_a_row_without_a_lead(tmp_path: Path) -> None:
    cases = [{"text": "lead_id,event_type\nld_1,x\n\n,x\n", "byLead": True, "partBytes": 100},
             {"text": "event_type,email\nx,a@b.co\n", "byLead": True, "partBytes": 100},
             {"text": "event_type,email\nx,a@b.co\n", "byLead": False, "partBytes": 100},
             {"text": "lead_id,type\nld_1,x\n", "byLead": False, "partBytes": 100},
             {"text": "Lead_ID;\"Event_Type\"\r\nld_1;x\r\n", "byLead": False, "partBytes": 100},
             {"text": "lead_id\tevent_type\nld_1\tx\n", "byLead": False, "partBytes": 100}]
    out = _split(cases, tmp_path)
    assert out[0]["error"].startswith("Line 4 has no lead_id")
    assert "needs a lead_id column" in out[1]["error"]
    assert len(out[2]["parts"]) == 1
    assert out[3]["error"] == "The CSV header must include event_type."
    # Spreadsheets in many locales save "CSV" with semicolons between the cells: said, not only refused.
    assert out[4]["error"] == ("The CSV header must include event_type. This file separates its cells with "
                               "semicolons (;): save it with commas between the cells.")
    assert out[5]["error"] == ("The CSV header must include event_type. This file separates its cells with tabs: "
                               "save it with commas between the cells.")
