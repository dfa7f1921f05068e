#!/usr/bin/env bash
# The operations tools the tests and `make ops` use, installed from Debian and the Go module proxy:
#   promtool + prometheus   Debian's `prometheus` package (rule checks, unit tests, the scrape test)
#   helm                    built with `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`, cached
# Idempotent: does nothing when both are there.
#
#   deploy/ops-tools.sh install       install what is missing, print the versions
#   deploy/ops-tools.sh helm-path     print the cached helm binary's path
#
# Settings (environment): TXMON_CACHE_DIR (<repo>/.cache), TXMON_HELM_VERSION (see below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${TXMON_CACHE_DIR:-$ROOT/.cache}"
HELM_VERSION="${TXMON_HELM_VERSION:-v3.19.0}"
HELM_DIR="$CACHE_DIR/helm/$HELM_VERSION"
HELM="$HELM_DIR/helm"

say() { printf '[ops-tools] %s\n' "$*"; }
die() { printf '[ops-tools] error: %s\n' "$*" >&2; exit 1; }

install_prometheus() {
  command -v promtool >/dev/null && command -v prometheus >/dev/null && return 0
  command -v apt-get >/dev/null || die "promtool is missing and apt-get is not available: install Prometheus yourself"
  local sudo=""
  ((EUID == 0)) || { command -v sudo >/dev/null && sudo="sudo"; } || die "need root (or sudo) to install prometheus"
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [[ ! -e "$policy" ]]; then  # keep the package from starting a system Prometheus on 9090
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
  fi
  say "installing Debian's prometheus (with promtool)"
  local rc=0
  { $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus >/dev/null; } || rc=$?
  [[ -z "$made_policy" ]] || $sudo rm -f "$policy"
  ((rc == 0)) || die "apt-get install prometheus failed"
}

install_helm() {
  [[ -x "$HELM" ]] && return 0
  command -v go >/dev/null || die "go not found: helm is built from the Go module proxy (install Go 1.24+)"
  say "building helm $HELM_VERSION with go install (a few minutes, once)"
  mkdir -p "$HELM_DIR"
  GOBIN="$HELM_DIR" GOPATH="$CACHE_DIR/go" GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build" \
    GOFLAGS=-modcacherw CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    || die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"
}

case "${1:-install}" in
  install)
    install_prometheus
    install_helm
    say "$(promtool --version 2>&1 | head -1); helm $("$HELM" version --short)"
    ;;
  helm-path) echo "$HELM" ;;
  *) echo "usage: $0 install | helm-path" >&2; exit 2 ;;
esac
