"""The integer range of the product (SEMANTICS §12), in one place for the API, the seed and the tools.

Thresholds, windows, weights, scores and score bands stay within ±10^9: far beyond any sensible weight or band,
and far inside SQLite's 64-bit integers even after summing many rules and multiplying by the surge cap, so the
arithmetic can never overflow. Free of the web framework: the seed data and the worker process import it too.
"""

from __future__ import annotations

__all__ = ["INT_LIMIT", "INT_LIMIT_TEXT"]

INT_LIMIT = 1_000_000_000
"""The largest magnitude a client may send (and a band may reach: a top band ending here reads "and above")."""

INT_LIMIT_TEXT = f"{INT_LIMIT:,}"
"""`INT_LIMIT` as the API's descriptions write it (1,000,000,000)."""
