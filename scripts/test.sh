#!/usr/bin/env bash
# Runs the whole suite: SQLite and PostgreSQL, fake engine and the real weights.
# pytest exit code 5 ("no tests collected") is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export OPENMAAS_TEST_ARTIFACTS="${OPENMAAS_TEST_ARTIFACTS:-$PWD/artifacts}"
mkdir -p "$OPENMAAS_TEST_ARTIFACTS"
.venv/bin/openmaas models assemble >/dev/null || exit 1
# tests/web drive Debian's Chromium (never a downloaded browser); a CJK font makes the screenshots legible
# (and draws the Chinese text the OCR tests read); espeak-ng is the local speech engine (/audio/speech)
missing=""
[ -x /usr/bin/chromium ] || missing="chromium"
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing="$missing fonts-wqy-microhei"
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >/dev/null || exit 1
  else
    echo "tests/web need Debian packages: sudo apt-get install $missing" >&2
  fi
fi
.venv/bin/python -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
