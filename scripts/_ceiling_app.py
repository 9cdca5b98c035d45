"""The ceiling for bench_ingest.py: a trivial Litestar POST handler on the same server stack (uvicorn, same
loop/protocol choices), decoding the same JSON body and answering 202."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from litestar import Litestar, post


@post("/noop", status_code=202)
async def noop(data: dict[str, Any]) -> dict[str, str]:
    """Accept and forget."""
    return {"message": "ok"}


app = Litestar([noop], logging_config=None)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
