#!/usr/bin/env bash
# Build the one-file executable dist/leadvibe, smoke-test it, print its figures.
#
#   scripts/build_binary.sh            # build venv in build/venv (created on first use), then build + test
#   PYTHON=python3.12 scripts/build_binary.sh
#   LEADVIBE_BUILD_VENV=/opt/venv scripts/build_binary.sh   # use (and create if missing) another venv
#
# The build venv is separate from .venv so the binary is built from exactly the declared dependencies
# (`pip install -c constraints.txt -e ".[build,test]"`: the pinned versions, PyInstaller, plus pytest for the
# smoke test). The executable does not
# depend on it at run time: the smoke test and the figures run the binary with only PATH=/usr/bin:/bin set.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${LEADVIBE_BUILD_VENV:-build/venv}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating the build venv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "==> installing leadvibe with the build and test extras into $VENV"
"$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[build,test]"

# The spec bundles whatever is in leadvibe/static at this moment (OpenAPI assets; the dashboard once built).
if [ -f web/package.json ] && [ ! -f leadvibe/static/dashboard/index.html ]; then
    echo "warning: web/ holds a dashboard but leadvibe/static/dashboard/ is not built:" \
         "the binary will serve the fallback landing page" >&2
fi

echo "==> building dist/leadvibe with PyInstaller"
started=$(date +%s)
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/leadvibe.spec
echo "    built in $(( $(date +%s) - started )) s"

echo "==> smoke test (tests/e2e/test_binary.py) against dist/leadvibe"
LEADVIBE_BINARY="$PWD/dist/leadvibe" "$VENV/bin/python" -m pytest -q -p no:warnings -p no:cacheprovider \
    tests/e2e/test_binary.py

echo "==> figures"
"$VENV/bin/python" scripts/binary_figures.py dist/leadvibe
