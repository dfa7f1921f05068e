#!/usr/bin/env bash
# Create the virtual environment and install exactly what requirements.lock pins, then txmon itself
# (editable, built with the locked setuptools). Used by `make install`, the demo, the bench and CI.
#
#   deploy/python/install.sh [VENV]      (default: <repo>/.venv; PYTHON picks the interpreter)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "[install] txmon needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1; }
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Every package with its hash, nothing resolved here: a new machine gets what was tested.
"$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r "$ROOT/requirements.lock"
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
"$VENV/bin/python" -m pip check
echo "[install] $VENV: $(grep -c '^[a-z0-9].*==' "$ROOT/requirements.lock") locked packages and txmon"
