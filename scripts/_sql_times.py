"""The writer's SQL statements by total time, for the benchmarks' `--statements` (apsw's profile hook).

    times = StatementTimes()
    rt.db.write_blocking(lambda c: c.set_profile(times))
    ...  # the work measured
    times.print_top(12)  # and start counting afresh
"""

from __future__ import annotations


class StatementTimes:
    """Executions and seconds per statement text (whitespace folded, the first 110 characters)."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}

    def __call__(self, sql: str, ns: int) -> None:
        entry = self.spent.setdefault(" ".join(sql.split())[:110], [0, 0.0])
        entry[0] += 1
        entry[1] += ns / 1e9

    def print_top(self, n: int) -> None:
        """Print the `n` statements that took longest since the last call, then forget them."""
        for sql, (count, seconds) in sorted(self.spent.items(), key=lambda kv: -kv[1][1])[:n]:
            print(f"    {seconds:8.3f} s {int(count):7d}x  {sql}")
        self.spent.clear()
