#!/usr/bin/env bash
# Install asyncwf with its test tools into .venv and run the whole suite:
# the protobuf drift check, ruff, mypy, the docs build, then pytest (real servers over real sockets).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }
# Chromium for the map page's browser tests (driven by Playwright's Python API, no browser download).
command -v chromium >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
# PostgreSQL's server programs: the store suite and the replica tests start their own server with them.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

echo "== protobuf drift check"
.venv/bin/python scripts/gen_protos.py --check
echo "== blocking twins drift check"
.venv/bin/python scripts/gen_blocking.py --check
echo "== graft vocabulary page drift check"
.venv/bin/python scripts/gen_vocabulary.py --check
echo "== ruff"
.venv/bin/ruff check asyncwf tests benchmarks scripts
.venv/bin/ruff format --check asyncwf tests benchmarks scripts
echo "== mypy"
.venv/bin/mypy asyncwf
echo "== docs (API reference from the docstrings; warnings are errors)"
.venv/bin/mkdocs build --strict --quiet
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
