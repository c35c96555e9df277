#!/usr/bin/env bash
# The benchmark's own environment: taskheap (editable, with redis) and the peer task queues.
# Peers are installed here only, never in the project's dependencies.
# Usage: bench/setup-peers.sh [venv-dir]   (default /work/bench-venv)
set -euo pipefail
venv="${1:-/work/bench-venv}"
root="$(cd "$(dirname "$0")/.." && pwd)"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -e "$root[redis]" psutil huey rq "dramatiq[redis]" "celery[redis]" \
  taskiq taskiq-redis arq saq
