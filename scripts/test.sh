#!/usr/bin/env bash
# The test suite: lint, format check, type check, import layers, the CI examples' schemas,
# unit and integration tests.
# --setup first runs scripts/setup.sh (system packages and .venv) on a fresh machine;
# any other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--setup" ]; then
  shift
  bash scripts/setup.sh
fi
export PATH="$PWD/.venv/bin:$PATH"

ruff check .
ruff format --check .
mypy .
lint-imports
# The CI examples against the published schemas of each CI system (vendored: offline).
check-jsonschema --builtin-schema vendor.github-workflows examples/ci/github-*.yml
check-jsonschema --builtin-schema vendor.gitlab-ci examples/ci/.gitlab-ci.yml
pytest -q -p no:cacheprovider "$@"
