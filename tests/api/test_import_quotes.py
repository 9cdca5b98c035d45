"""`POST /import` with quotes that span lines or never close: every line after the header is accounted for, and
each error names the line its row (or its open quote) starts on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import wait_idle


async def _import(api: Any, text: str) -> Any:
    return await api.post("/import", files={"file": ("e.csv", text.encode(), "text/csv")})


async def _stored_leads(api: Api) -> list[str]:
    await wait_idle(api)
    return await api.rt.db.read(lambda c: [r[0] for r in c.execute("SELECT lead_id FROM events ORDER BY seq")])


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("final", [True, False], ids=["final-newline", "no-final-newline"])
async def test_an_unterminated_quote_is_named_and_every_line_it_swallowed_counted(api: Api, newline: str,
                                                                                    final: bool) -> None:
    rows = ["lead_id,event_type", "cli_uq1,page_view", 'cli_uq2,"page_view', "cli_uq3,page_view",
            "cli_uq4,page_view"]
    r = await _import(api, newline.join(rows) + (newline if final else ""))
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["imported"], body["errors"]) == (1, 3), body
    assert body["error_rows"] == [{
        "line": 3, "last_line": 5,
        "error": "unterminated quoted field starting at line 3: its opening quote is never closed, so its row and "
                 "every line after it to the end of the file (line 5) were read as one row and not imported"}]
    assert await _stored_leads(api) == ["cli_uq1"]


async def test_an_unterminated_quote_after_a_closed_multi_line_field_counts_the_whole_row(api: Api) -> None:
    # The row starts on line 3 with a closed two-line note; the quote opened on line 4 is never closed: lines 3-6
    # are one unread row (four lines in `errors`), the error at the open quote.
    text = ('lead_id,event_type,note,metadata\nld_1,page_view,,\nld_2,page_view,"two\nlines","{\n'
            "ld_3,page_view,,\nld_4,page_view,,\n")
    body = (await _import(api, text)).json()
    assert (body["imported"], body["errors"]) == (1, 4), body
    assert [(e["line"], e["last_line"]) for e in body["error_rows"]] == [(4, 6)]
    assert body["error_rows"][0]["error"].startswith("unterminated quoted field starting at line 4:")


async def test_an_unterminated_quote_in_the_header_refuses_the_file(api: Api) -> None:
    r = await _import(api, 'lead_id,event_type,"unclosed\nld_1,page_view,x\n')
    assert r.status_code == 400
    assert r.json() == {"error": "the CSV header has an unterminated quoted field starting at line 1: its opening "
                                 "quote is never closed, so the whole file was read into the header (nothing was "
                                 "imported)"}
    assert await _stored_leads(api) == []


async def test_a_bad_row_spanning_lines_is_named_by_its_first_line(api: Api) -> None:
    # Line 2 starts a row whose metadata spans lines 2-4 and which has no event type; a blank line 5 is skipped;
    # line 6 is good, line 7 bad again, and line 8 starts a good row spanning two lines.
    text = ('lead_id,event_type,metadata\nld_1,,"{\n""a"": 1\n}"\n\nld_2,page_view,\nld_3,,\n'
            'ld_4,page_view,"{""b"":\n2}"\n')
    body = (await _import(api, text)).json()
    assert (body["imported"], body["errors"]) == (2, 2), body
    assert [e["line"] for e in body["error_rows"]] == [2, 7]
    assert all("last_line" not in e for e in body["error_rows"])
    assert await _stored_leads(api) == ["ld_2", "ld_4"]


async def test_a_file_must_start_with_its_header(api: Api) -> None:
    r = await _import(api, "\n\nlead_id,event_type\nld_1,page_view\n")
    assert r.json() == {"error": "the CSV file starts with 2 blank lines: the header row must be its first line"}
    r = await _import(api, "\n")
    assert r.json() == {"error": "the CSV file is empty (a header row is required)"}


@pytest.mark.parametrize(("text", "said"), [
    ("lead_id;event_type\nld_1;page_view\n", ": this file separates its cells with semicolons (`;`); save it with "
                                              "commas between the cells"),
    ('"Lead_ID"; "Event_Type"\nld_1;page_view\n', ": this file separates its cells with semicolons (`;`); save "
                                                    "it with commas between the cells"),
    ("lead_id\tevent_type\nld_1\tpage_view\n", ": this file separates its cells with tabs; save it with commas "
                                               "between the cells"),
    ("lead_id,type\nld_1,page_view\n", ""),
])
async def test_a_header_without_event_type_says_when_the_file_uses_another_separator(api: Api, text: str,
                                                                                    said: str) -> None:
    """Spreadsheets in many locales save "CSV" with semicolons between the cells."""
    r = await _import(api, text)
    assert (r.status_code, r.json()["error"]) == (400, "the CSV header must include `event_type`" + said)


async def test_a_header_without_a_lead_column_is_refused_naming_the_columns_it_needs(api: Api) -> None:
    # `alias_kind,alias` are /ingest's JSON fields, not CSV columns: the file names no lead at all.
    r = await _import(api, "alias_kind,alias,event_type\nemail,a@x.com,page_view\n")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == ("the CSV header names no lead: it needs a `lead_id` column or an identifier column "
                                 "(`external_id`, `email`, `phone`, `cookie`, `social`)")


async def test_a_row_without_a_lead_is_named_in_the_csv_columns(api: Api) -> None:
    body = (await _import(api, "lead_id,email,event_type\n,,page_view\nld_9,,page_view\n")).json()
    assert (body["imported"], body["errors"]) == (1, 1), body
    assert body["error_rows"] == [{"line": 2, "error": "the row names no lead: fill its `lead_id` or one of "
                                                       "`external_id`, `email`, `phone`, `cookie`, `social`"}]
