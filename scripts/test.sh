#!/usr/bin/env bash
# The test suite: lint, format check, type check, then unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

ruff check .
ruff format --check .
mypy .
pytest -q -p no:cacheprovider "$@"
