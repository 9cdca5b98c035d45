"""HTML the server itself renders: the browser landing page served at `/` and `/home`."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

_FALLBACK = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LeadVibe</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
code{background:#f0f4f8;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>LeadVibe</h1>
<p>The server is running. The API reference, with a console to try every call, is at
<a href="/schema">/schema</a>.</p>
<p>Health: <a href="/healthz"><code>/healthz</code></a> &middot;
Metrics: <a href="/metrics"><code>/metrics</code></a></p>
</body></html>"""


def index_html() -> str:
    """The built dashboard's index.html when it ships in this build, else a landing page linking the API."""
    built = STATIC_DIR / "dashboard" / "index.html"
    if built.is_file():
        return built.read_text(encoding="utf-8")
    return _FALLBACK
