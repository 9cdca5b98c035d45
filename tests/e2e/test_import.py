"""CSV import against a real server: the CLI with its progress bar, and memory while a 10 MB file imports."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, status_kb
from tests.helpers import metric_values

pytestmark = pytest.mark.slow


def _hwm_mb(pid: int) -> float:
    return status_kb(pid, "VmHWM") / 1024


def _csv(path: Path, target_bytes: int) -> int:
    rows = 0
    with path.open("w") as f:
        f.write("lead_id,event_type,timestamp,email,metadata\n")
        size = 0
        while size < target_bytes:
            line = (f"ld_{rows % 20000},page_view,2025-06-15T10:30:00Z,user{rows % 20000}@example.com,"
                    f'"{{""path"": ""/pricing/{rows}""}}"\n')
            f.write(line)
            size += len(line)
            rows += 1
    return rows


def test_ten_megabyte_import_keeps_memory_flat(tmp_path: Path) -> None:
    # The page caches are bounded by their own setting (24 MB writer + a quarter per reader by default) and fill
    # with whatever the worker touches while it scores the import, more so as triggers and indexes are added;
    # at their 8 MB floor they cannot hide a file-sized buffer, which is what this test is about.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL",
                                                   "LEADVIBE_CACHE_SIZE_MB": "8"}).start()
    try:
        basic = server.basic()
        path = tmp_path / "events.csv"
        rows = _csv(path, 10 * 1024 * 1024 - 4096)
        assert path.stat().st_size <= 10 * 1024 * 1024
        # warm up the code paths so the measurement is about the file, not first-use imports
        server.request("POST", "/import", files={"file": ("w.csv", b"lead_id,event_type\nld_w,x\n", "text/csv")},
                       headers=basic)
        before = _hwm_mb(server.proc.pid)  # type: ignore[union-attr]
        with path.open("rb") as f:
            started = time.monotonic()
            r = server.request("POST", "/import", files={"file": ("events.csv", f, "text/csv")}, headers=basic,
                               timeout=600)
            print(f"10 MB import acknowledged in {time.monotonic() - started:.1f} s")
        assert r.status_code == 202, r.text
        assert r.json()["imported"] == rows and r.json()["errors"] == 0
        print(f"peak RSS growth when acknowledged: {_hwm_mb(server.proc.pid) - before:.1f} MB")  # type: ignore[union-attr]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and server.request("GET", "/healthz").json()["queue_depth"] > 0:
            time.sleep(0.5)
        growth = _hwm_mb(server.proc.pid) - before  # type: ignore[union-attr]
        print(f"peak RSS growth during the import: {growth:.1f} MB")
        heap = {ln.split()[0]: float(ln.split()[1]) for ln in server.request("GET", "/metrics", headers=basic).text
                .splitlines() if ln.startswith("sqlite_heap")}
        print(f"SQLite heap now {heap['sqlite_heap_bytes'] / 2**20:.1f} MB, "
              f"at most {heap['sqlite_heap_peak_bytes'] / 2**20:.1f} MB")
        assert growth < 50, f"peak memory grew by {growth:.1f} MB"
        too_big = tmp_path / "big.csv"
        _csv(too_big, 10 * 1024 * 1024 + 10_000)
        with too_big.open("rb") as f:
            r = server.request("POST", "/import", files={"file": ("big.csv", f, "text/csv")}, headers=basic)
        assert r.status_code == 413
    finally:
        server.stop()


def test_cli_import_with_progress(tmp_path: Path) -> None:
    # The page caches are bounded by their own setting (24 MB writer + a quarter per reader by default) and fill
    # with whatever the worker touches while it scores the import, more so as triggers and indexes are added;
    # at their 8 MB floor they cannot hide a file-sized buffer, which is what this test is about.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL",
                                                   "LEADVIBE_CACHE_SIZE_MB": "8"}).start()
    try:
        token = server.token()
        r = server.request("POST", "/secrets", json={"name": "cli"},
                           headers={"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"})
        cred = r.json()
        path = tmp_path / "events.csv"
        path.write_text("lead_id,event_type,timestamp,campaign\nld_a,page_view,2025-06-15T10:30:00Z,x\n,bad,,\n"
                        "ld_b,email_open,2025-06-16T14:00:00Z,y\n")
        out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                              "--client-id", cred["client_id"], "--client-secret", cred["client_secret"]],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert "imported 2 events" in out.stdout and "line 3:" in out.stdout
        assert "columns not imported (no import column has these names): campaign\n" in out.stdout
        assert "100.0%" in out.stderr
        bad = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                              "--client-id", cred["client_id"], "--client-secret", "wrong"],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "401" in bad.stderr
        assert bad.stderr.startswith("leadvibe: ")  # nothing drawn before the refusal: no empty line first
    finally:
        server.stop()


def test_split_keeps_line_numbers(tmp_path: Path) -> None:
    from leadvibe.importer import split_csv

    path = tmp_path / "e.csv"
    path.write_text("event_type,lead_id,metadata\n" + "".join(f'x,ld_{i},"{{""a"":\n1}}"\n' for i in range(50)))
    parts = list(split_csv(path, part_bytes=200))
    assert len(parts) > 3
    assert all(p.startswith(b"event_type,lead_id,metadata\n") for p, _, _ in parts)
    assert parts[-1][2] == path.stat().st_size


def test_cli_progress_moves_by_acknowledged_rows_on_a_small_file(tmp_path: Path) -> None:
    import re

    # The page caches are bounded by their own setting (24 MB writer + a quarter per reader by default) and fill
    # with whatever the worker touches while it scores the import, more so as triggers and indexes are added;
    # at their 8 MB floor they cannot hide a file-sized buffer, which is what this test is about.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL",
                                                   "LEADVIBE_CACHE_SIZE_MB": "8"}).start()
    try:
        token = server.token()
        cred = server.request("POST", "/secrets", json={"name": "cli"},
                              headers={"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}).json()
        path = tmp_path / "events.csv"  # ~300 kB: one part under the old 8 MB parts
        path.write_text("lead_id,event_type\n" + "".join(f"ld_{i % 97},page_view\n" for i in range(7000)))
        out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                              "--client-id", cred["client_id"], "--client-secret", cred["client_secret"]],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        rows = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) rows imported", out.stderr)]
        assert len(rows) >= 4 and rows == sorted(rows) and rows[0] < 7000 and rows[-1] == 7000
    finally:
        server.stop()


def test_cli_names_the_url_when_no_server_answers(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "events.csv"
    path.write_text("lead_id,event_type\nld_a,page_view\n")
    # A port held bound but not listening: connections are refused, and no server of a test running beside this
    # one can take it meanwhile (a port merely found free could be).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", url, "--client-id",
                              "lv_x", "--client-secret", "y"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert url in out.stderr and "leadvibe serve" in out.stderr and "Errno" not in out.stderr
    assert out.stderr.startswith("leadvibe: ")


def test_split_by_lead_groups_each_leads_rows_in_file_order(tmp_path: Path) -> None:
    import csv
    import io

    from leadvibe.importer import split_csv, split_csv_by_lead

    path = tmp_path / "e.csv"
    # Quoted cells with line breaks and commas, a lead id cell with spaces, and leads out of id order.
    path.write_text("event_type,lead_id,metadata\n" + "".join(
        f'x{i},ld_{(i * 7) % 9},"{{""a"":\n""{i},""}}"\n' if i % 4 == 0 else f"x{i}, ld_{(i * 7) % 9} ,\n"
        for i in range(60)))

    def rows(parts: list[tuple[bytes, list[int], int]]) -> list[tuple[int, list[str]]]:
        out = []
        for body, lines, _ in parts:
            reader = csv.reader(io.StringIO(body.decode()))
            next(reader)
            for cells in reader:
                out.append((lines[reader.line_num - 1], cells))  # the file's line of the record's last line
        return out

    in_file_order = rows(list(split_csv(path, part_bytes=150)))
    in_memory = rows(list(split_csv_by_lead(path, part_bytes=150)))
    on_disk = rows(list(split_csv_by_lead(path, part_bytes=150, run_rows=7)))  # nine sorted runs merged
    assert in_memory == on_disk
    assert in_memory == sorted(in_file_order, key=lambda r: r[1][1].strip())  # a stable sort by lead id
    assert [r[1][1].strip() for r in in_memory][:8] == ["ld_0"] * 7 + ["ld_1"]
    # Each row keeps the line it has in the file (what an error names).
    lines = {cells[0]: line for line, cells in in_file_order}
    assert all(lines[cells[0]] == line for line, cells in on_disk)
    assert lines["x0"] == 3 and lines["x1"] == 4 and lines["x4"] == 8  # x0 is lines 2-3 of the file, x4 7-8


def test_split_by_lead_keeps_a_row_with_a_quote_in_its_text_in_place_and_an_unclosed_one_last(tmp_path: Path) -> None:
    from leadvibe.importer import split_csv_by_lead

    def sent(text: str) -> list[tuple[int, str]]:
        path = tmp_path / "q.csv"
        path.write_text(text)
        out = []
        for body, lines, _ in split_csv_by_lead(path):
            records = body.decode().split("\n")[1:-1]
            out += [(lines[1 + i], r) for i, r in enumerate(records)]
        return out

    # `27" monitor` is text (a quote opens a field only as its first character): grouped with its lead, in order.
    assert sent('lead_id,event_type\nld_a,page_view\nld_a,viewed 27" monitor\nld_b,page_view\nld_a,page_view\n') == [
        (2, "ld_a,page_view"), (3, 'ld_a,viewed 27" monitor'), (5, "ld_a,page_view"), (4, "ld_b,page_view")]
    # A quote that opens a field and never closes, with an even count of quotes in its record: sent last, so it
    # swallows only what follows it in the file, as the server reads it.
    path = tmp_path / "u.csv"
    path.write_text('lead_id,event_type,metadata\nld_b,page_view,\nld_a,27" x,"{\nld_c,page_view,\n')
    assert [(body, lines) for body, lines, _ in split_csv_by_lead(path)] == [
        (b'lead_id,event_type,metadata\nld_b,page_view,\nld_a,27" x,"{\nld_c,page_view,\n', [1, 2, 3, 4])]


def test_a_header_without_rows_is_checked_by_the_server_too(tmp_path: Path) -> None:
    from leadvibe.importer import split_csv, split_csv_by_lead

    path = tmp_path / "h.csv"
    path.write_text("foo,bar\n")
    assert [body for body, _, _ in split_csv(path)] == [b"foo,bar\n"]
    path.write_text("lead_id,event_type\n")
    assert [body for body, _, _ in split_csv_by_lead(path)] == [b"lead_id,event_type\n"]


def test_split_by_lead_holds_one_run_in_memory_not_the_file(tmp_path: Path) -> None:
    import tracemalloc

    from leadvibe.importer import split_csv_by_lead

    path = tmp_path / "e.csv"
    with path.open("w") as f:
        f.write("lead_id,event_type,timestamp\n")
        for i in range(60_000):
            f.write(f"ld_{(i * 7919) % 6000:05d},page_view,2026-03-01T10:{i % 60:02d}:00Z\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows = sum(part.count(b"\n") - 1 for part, _, _ in split_csv_by_lead(path, run_rows=10_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 60_000
    # Held: one run of 10,000 rows while sorting, then a block of each of the six runs while merging; the whole
    # file in memory would be about seven times its size.
    assert peak < 3 * size, f"{peak / 2**20:.1f} MB at peak for a {size / 2**20:.1f} MB file"


def test_split_by_lead_refuses_a_row_without_lead_id_before_sending(tmp_path: Path) -> None:
    from leadvibe.importer import ImportFailed, split_csv, split_csv_by_lead

    path = tmp_path / "e.csv"
    path.write_text("lead_id,event_type,email\nld_a,x,\n,y,someone@example.com\n")
    with pytest.raises(ImportFailed, match="line 3 has no lead_id"):
        next(split_csv_by_lead(path))
    path.write_text("event_type,email\nx,a@example.com\n")
    with pytest.raises(ImportFailed, match="has none"):
        next(split_csv_by_lead(path))
    path.write_text("event_type;lead_id\nx;ld_a\n")  # a spreadsheet's "CSV" in many locales
    with pytest.raises(ImportFailed) as refused:
        next(split_csv_by_lead(path))
    assert str(refused.value) == ("the CSV header has no `lead_id` column: this file separates its cells with "
                                  "semicolons (`;`); save it with commas between the cells (nothing was sent)")
    path.write_bytes(b'event_type,lead_id\nx,ld_a\ny,"ld_\xff"\n')
    with pytest.raises(ImportFailed, match="line 3 is not UTF-8"):
        next(split_csv_by_lead(path))
    # Far past the first part, in a cell that is not the lead's: refused before a part is sent, in either order.
    path.write_bytes(b"event_type,lead_id\n" + b"x,ld_a\n" * 5000 + b"caf\xe9,ld_b\n")
    for split in (split_csv, split_csv_by_lead):
        with pytest.raises(ImportFailed, match=r"^line 5002 is not UTF-8 \(nothing was sent\)$"):
            next(split(path))


def test_cli_import_by_lead_scores_as_the_file_order_does(tmp_path: Path) -> None:
    # The same history imported in file order and grouped by lead, into two servers: every lead ends with the same
    # score, and the same events with the same deltas, filter and surge decisions; a bad row is reported at its
    # line in the file, and a file with a row naming no lead_id is refused with nothing sent.
    import random

    rng = random.Random(7)
    path = tmp_path / "history.csv"
    lines = ["lead_id,event_type,timestamp,email"]
    for i in range(240):
        lead = rng.randrange(12)
        kind = rng.choice(["page_view", "email_open", "email_open", "demo_request"])
        minute = i // 4 + rng.randrange(3)  # roughly in time order, as an export is
        lines.append(f"ld_{lead:02d},{kind},2026-03-01T{10 + minute // 60:02d}:{minute % 60:02d}:00Z,"
                     f"user{lead}@example.com")
    lines[101] = "ld_03,,2026-03-01T11:00:00Z,"  # line 102 of the file: no event type
    path.write_text("\n".join(lines) + "\n")
    outcomes = []
    for by_lead in (False, True):
        server = ServerProcess(tmp_path / f"data{int(by_lead)}", env={"LEADVIBE_SYNCHRONOUS": "NORMAL"}).start()
        try:
            admin = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
            for event_type, weight in (("page_view", 2), ("email_open", 3), ("demo_request", 20)):
                assert server.request("POST", "/rules", json={"event_type": event_type, "weight": weight},
                                      headers=admin).status_code == 201
            assert server.request("POST", "/filters", json={"event_type": "email_open", "count_threshold": 2,
                                                            "time_window_ms": 600_000, "group_events": True},
                                  headers=admin).status_code == 201
            cred = server.request("POST", "/secrets", json={"name": "cli"}, headers=admin).json()
            out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                                  "--client-id", cred["client_id"], "--client-secret", cred["client_secret"],
                                  "--skip-triggers", *(["--by-lead"] if by_lead else [])],
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 2, out.stderr
            assert "imported 239 events" in out.stdout and "line 102:" in out.stdout, out.stdout
            deadline = time.monotonic() + 60
            while server.request("GET", "/healthz").json()["queue_depth"] and time.monotonic() < deadline:
                time.sleep(0.1)
            outcome = {}
            # One kept-alive connection for the few hundred reads below.
            with httpx.Client(base_url=server.base, headers=admin, timeout=30) as api:
                leads = api.get("/leads?limit=100").json()["leads"]
                for lead in leads:
                    events = api.get(f"/leads/{lead['id']}/events?limit=100").json()
                    at = {ev["id"]: (ev["event_type"], ev["occurred_at"]) for ev in events}
                    history = []
                    for ev in events:
                        why = api.get(f"/events/{ev['id']}/explanation").json()
                        history.append((ev["event_type"], ev["occurred_at"], why["inorganic"], why["multiplier"],
                                        at.get(why["grouped_with"]) if why["grouped_with"] else None,
                                        [(r["delta"], r["before"], r["after"]) for r in why["rulesets"]]))
                    outcome[lead["id"]] = (lead["score"], lead["session_count"], history)
            outcomes.append(outcome)
            if by_lead:
                unnamed = tmp_path / "unnamed.csv"
                unnamed.write_text("lead_id,event_type,email\nld_00,page_view,\n,page_view,x@example.com\n")
                before = server.request("GET", "/events?limit=1", headers=admin).json()["total"]
                out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(unnamed), "--by-lead",
                                      "--url", server.base, "--client-id", cred["client_id"],
                                      "--client-secret", cred["client_secret"]],
                                     capture_output=True, text=True, timeout=60)
                assert out.returncode == 1 and "line 3 has no lead_id" in out.stderr, out.stderr
                assert server.request("GET", "/events?limit=1", headers=admin).json()["total"] == before
        finally:
            server.stop()
    assert len(outcomes[0]) == 12 and outcomes[0] == outcomes[1]


def test_cli_import_names_an_unclosed_quote_and_counts_what_it_swallowed(tmp_path: Path) -> None:
    # The quote opened on line 2102 (in the second part of 2,000 rows; grouped by lead, in the first) is never
    # closed, and the file ends without a line break: lines 2102-2104 are one unread row, three rows in `errors`,
    # named at the lines of the file. A bad row spanning lines is named by its first; a header whose quote is
    # never closed refuses the file with nothing imported.
    from leadvibe.csvread import unterminated_header, unterminated_quote

    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL"}).start()
    try:
        token = server.token()
        cred = server.request("POST", "/secrets", json={"name": "cli"},
                              headers={"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}).json()

        def cli(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                                   "--client-id", cred["client_id"], "--client-secret", cred["client_secret"],
                                   "--quiet", *flags], capture_output=True, text=True, timeout=120)

        unclosed = tmp_path / "unclosed.csv"
        unclosed.write_text("lead_id,event_type\n" + "".join(f"ld_{i},page_view\n" for i in range(2100))
                            + 'cli_uq2,"page_view\ncli_uq3,page_view\ncli_uq4,page_view')
        for flags in ((), ("--by-lead",)):
            out = cli(unclosed, *flags)
            assert out.returncode == 2, out.stderr
            assert out.stdout.splitlines() == ["imported 2100 events, 0 duplicates, 3 rows with errors",
                                               f"  line 2102: {unterminated_quote(2102, 2104)}"], flags
        spanning = tmp_path / "spanning.csv"
        spanning.write_text('lead_id,event_type,metadata\nld_1,,"{\n""a"": 1\n}"\nld_2,page_view,\n')
        out = cli(spanning)
        assert out.returncode == 2 and out.stdout.splitlines()[1:] == [
            "  line 2: `event_type` is required and must not be empty"], out
        header = tmp_path / "header.csv"
        header.write_text('lead_id,event_type,"unclosed\nld_1,page_view\n')
        out = cli(header)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.strip() == f"leadvibe: {unterminated_header(1)}"
        ingested = metric_values(server.request("GET", "/metrics", headers=server.basic()).text)
        assert ingested["events_ingested_total"] == 2 * 2100 + 1  # nothing of the last file
    finally:
        server.stop()
