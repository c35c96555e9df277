#!/usr/bin/env bash
# A separate venv for the SQLite benchmark: taskheap (editable) beside Huey, the peer it is
# measured against. Huey is never a dependency of taskheap itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BENCH_VENV:-.bench-venv-sqlite}
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -e . huey
echo "run: $VENV/bin/python bench/sqlite_bench.py"
