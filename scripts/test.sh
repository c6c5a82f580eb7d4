#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff, import-linter) and run the whole test suite. pytest exits non-zero when a test fails and
# when no test was collected (exit 5), so this never passes on zero tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .          # lint (config in pyproject.toml)
.venv/bin/lint-imports          # boundaries: core never imports Qt or the app; the app uses core's public faces
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
