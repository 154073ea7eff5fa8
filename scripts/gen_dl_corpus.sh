#!/usr/bin/env bash
# Regenerate tests/workflows/dl_corpus.json and dl_raster_corpus.json with the real Descartes Labs client (descarteslabs 1.12.1 needs
# Python 3.9 and pyarrow 10; the client builds grafts offline). The virtualenv is made once, in .venvs/dl.
set -euo pipefail
cd "$(dirname "$0")/.."
# A Python 3.9: $PY39, else pyenv's, else python3.9 on PATH (a pyenv shim may not run it).
PY39="${PY39:-$(ls "$HOME"/.pyenv/versions/3.9*/bin/python 2>/dev/null | tail -1)}"
PY39="${PY39:-$(command -v python3.9)}"
if [ ! -x .venvs/dl/bin/python ]; then
    "$PY39" -m venv .venvs/dl
    .venvs/dl/bin/pip install -q "descarteslabs==1.12.1" "pyarrow==10.0.1"
fi
DESCARTESLABS_ENV=gcp-production .venvs/dl/bin/python -W ignore scripts/gen_dl_corpus.py > tests/workflows/dl_corpus.json
DESCARTESLABS_ENV=gcp-production .venvs/dl/bin/python -W ignore scripts/gen_dl_corpus.py rasters \
    > tests/workflows/dl_raster_corpus.json
