#!/usr/bin/env bash
# Install asyncwf into .venv and run the main job on the embedded backend.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/asyncwf demo "$@"
