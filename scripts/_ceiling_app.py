"""The ceiling for bench_ingest.py: a trivial Litestar POST handler on the same server stack (uvicorn, same
loop/protocol choices), decoding the same JSON body and answering 202.

Usage: _ceiling_app.py PORT [gathering]: with `gathering`, over the server's own HTTP protocol
(`leadvibe.http_protocol`: a response's writes in one system call) instead of uvicorn's stock one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar, post


@post("/noop", status_code=202)
async def noop(data: dict[str, Any]) -> dict[str, str]:
    """Accept and forget."""
    return {"message": "ok"}


app = Litestar([noop], logging_config=None)

if __name__ == "__main__":
    options: dict[str, Any] = {}
    if sys.argv[2:] == ["gathering"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from leadvibe.http_protocol import GatheringHttpToolsProtocol

        options["http"] = GatheringHttpToolsProtocol
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, **options)
