#!/usr/bin/env bash
# A separate venv for the PostgreSQL benchmark: taskheap (editable, with its postgres extra)
# beside procrastinate and pgqueuer, the peers it is measured against. Neither is ever a
# dependency of taskheap itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BENCH_VENV:-/work/bench-pg-venv}
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -e ".[postgres]" procrastinate pgqueuer
echo "run: $VENV/bin/python bench/postgres_bench.py"
