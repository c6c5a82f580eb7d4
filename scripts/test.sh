#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff, import-linter) and run the whole test suite. pytest exits non-zero when a test fails and
# when no test was collected (exit 5), so this never passes on zero tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The optional offline pose detector lives in its own environment (mediapipe pins numpy<2); with it the
# detector tests run on real images instead of skipping. A registry outage only makes them skip.
.venv/bin/deformlearn detector status >/dev/null 2>&1 || .venv/bin/deformlearn detector install \
  || echo "test.sh: the pose detector did not install; its tests will skip" >&2
.venv/bin/ruff check .          # lint (config in pyproject.toml)
.venv/bin/lint-imports          # boundaries: core never imports Qt or the app; the app uses core's public faces
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
