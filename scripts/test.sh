#!/usr/bin/env bash
# The test suite: lint, format check, type check, import layers, the CI examples' schemas,
# then the tests.
#   scripts/test.sh           every test: unit, contract, integration (as root: sandboxes,
#                             real sshd, gpg, apt, dnf, zypper, Chromium) and the benchmarks
#                             at their smallest sizes; 13 to 15 minutes on two cores
#   scripts/test.sh --unit    the unit and contract tests only (no root, no sandbox), for
#                             the edit-test loop; under a minute
#   scripts/test.sh --setup   runs scripts/setup.sh first (system packages and .venv), on
#                             a fresh machine; it goes with either of the above
# Any other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
setup= unit=
while [ $# -gt 0 ]; do
  case "$1" in
    --setup) setup=1 ;;
    --unit) unit=1 ;;
    *) break ;;
  esac
  shift
done
if [ -n "$setup" ]; then
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
# Two workers (pytest-xdist), one per core here; pyproject.toml keeps each test file whole
# on one worker, and tests/conftest.py gives each worker ports and loopback networks of its
# own. Workers start in about 2 s each, which the unit tests (25 s in one process) repay.
if [ -n "$unit" ]; then
  pytest -q -p no:cacheprovider -n 2 tests/unit tests/contracts "$@"
else
  pytest -q -p no:cacheprovider -n 2 "$@"
fi
