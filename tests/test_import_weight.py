"""What each process imports: the worker process and an idle server stay clear of libraries they do not use, which
is most of the appliance's memory at idle (`scripts/binary_figures.py` prints that figure against its target)."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    # A fresh interpreter: this test process has imported everything already.
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_the_worker_process_does_not_import_the_web_framework() -> None:
    # What `worker_process.run_child` imports before and as it builds its runtime.
    top_level = _modules_after("import leadvibe.pipeline.worker_process, leadvibe.pipeline.triggers, "
                               "leadvibe.runtime_build, leadvibe.log")
    assert not top_level & {"litestar", "uvicorn", "httpx"}


def test_the_server_imports_httpx_only_to_send() -> None:
    assert "httpx" not in _modules_after("import leadvibe.app")
