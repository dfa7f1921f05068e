#!/usr/bin/env bash
# Debian's chromium for the console's browser test (Playwright drives it by executable path;
# nothing downloads a browser). Idempotent: does nothing when the browser is already there.
#
#   deploy/browser.sh            install if missing, print the path and version
#
# Settings (environment): TXMON_CHROMIUM (default /usr/bin/chromium).
set -euo pipefail

CHROMIUM="${TXMON_CHROMIUM:-/usr/bin/chromium}"

say() { printf '[browser] %s\n' "$*"; }
die() { printf '[browser] error: %s\n' "$*" >&2; exit 1; }

if [[ ! -x "$CHROMIUM" ]]; then
  command -v apt-get >/dev/null || die "$CHROMIUM is missing and apt-get is not available: install Chromium yourself"
  SUDO=""
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || die "installing chromium needs root (or sudo)"
    SUDO="sudo"
  fi
  say "installing Debian's chromium with apt-get"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  [[ -x "$CHROMIUM" ]] || die "apt-get finished but $CHROMIUM is still missing"
fi
say "$CHROMIUM: $("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')"
