#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. pytest exits non-zero when a test fails and
# when no test was collected (exit 5), so this never passes on zero tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
