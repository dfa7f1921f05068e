#!/usr/bin/env bash
# Re-resolve requirements.lock from pyproject.toml (`make lock`; `make lock UPGRADE=1` moves every
# pin to the newest allowed version). The resolver, uv, is itself pinned here and installed into
# .cache/uv, so two people locking the same pyproject get the same file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UV_VERSION=0.13.9
TOOL="$ROOT/.cache/uv-$UV_VERSION"
PYTHON="${PYTHON:-python3}"
if [[ ! -x "$TOOL/bin/uv" ]]; then
  "$PYTHON" -m venv "$TOOL"
  "$TOOL/bin/pip" install -q "uv==$UV_VERSION"
fi
# The lock pins the dev and bench extras too: `make install` installs all of it, so a fresh
# machine can `make bench`. Wheels are chosen for glibc 2.31+ (Debian 11 and later; the image is
# bookworm): bytewax ships x86-64 Linux wheels only as manylinux_2_31.
args=(pip compile pyproject.toml deploy/python/build.in --extra dev --extra bench --generate-hashes
  --python-version 3.11 --python-platform x86_64-manylinux_2_31 --no-header --quiet
  -o requirements.lock)
[[ -z "${UPGRADE:-}" ]] || args+=(--upgrade)
cd "$ROOT"
"$TOOL/bin/uv" "${args[@]}"
echo "[lock] requirements.lock: $(grep -c '^[a-z0-9].*==' requirements.lock) pinned packages"
