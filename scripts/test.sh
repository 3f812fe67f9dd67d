#!/usr/bin/env bash
# Runs the whole suite: SQLite and PostgreSQL, fake engine and the real weights.
# pytest exit code 5 ("no tests collected") is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export OPENMAAS_TEST_ARTIFACTS="${OPENMAAS_TEST_ARTIFACTS:-$PWD/artifacts}"
mkdir -p "$OPENMAAS_TEST_ARTIFACTS"
.venv/bin/openmaas models assemble >/dev/null || exit 1
.venv/bin/python -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
