#!/usr/bin/env bash
# Rebuild the dashboard from web/ into leadvibe/static/dashboard (committed build output; the server, pip and
# PyInstaller need no Node) and print the first screen's gzipped size against its budget.
#
#   scripts/build_web.sh              build into the package
#   LEADVIBE_WEB_OUT=DIR scripts/build_web.sh   build elsewhere (the test that compares with the committed files)
#
# The build is deterministic: the same web/ and package-lock.json give byte-identical files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/web"
# Install exactly the locked packages when they are missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx vite build --logLevel warn
python3 "$root/scripts/web_size.py" "${LEADVIBE_WEB_OUT:-$root/leadvibe/static/dashboard}"
