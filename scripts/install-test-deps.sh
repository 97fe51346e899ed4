#!/usr/bin/env bash
# Install the Debian packages that the test suite's real servers need.
#
# Idempotent and fast when everything is already there: each package is checked with
# `dpkg-query` first, and `apt-get update` + `apt-get install` only run for what is missing.
# Services that a package's post-install script would start are kept from starting (via a
# temporary policy-rc.d) and stopped afterwards if they run anyway: the tests start their
# own instances on free ports in temp dirs (see tests/support/services.py).
#
# Usage: bash scripts/install-test-deps.sh   (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # PostgreSQL 15 (server + client) and Redis 7
  postgresql postgresql-client redis-server redis-tools
  # OpenStack Swift with the s3api middleware (in python3-swift), plus memcached for its cache
  swift swift-proxy swift-account swift-container swift-object python3-swift memcached
  # Browser tests (Playwright drives it with executablePath) and the HTTP load generator
  chromium fonts-liberation wrk
  # a Chinese font, so the admin UI's screenshots show 中文 (users' browsers have their own)
  fonts-wqy-microhei
)

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-test-deps: must run as root (or with sudo)" >&2
    exit 1
  fi
fi

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-test-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# Keep post-install scripts from starting system services (invoke-rc.d honours exit 101).
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() {
  if [[ "$created_policy" -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
trap cleanup EXIT

"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  --no-install-recommends "${missing[@]}" >/dev/null

# Belt and braces: stop anything the packages started anyway. Ignore failures (no init system,
# service not running, ...). Our tests never use the system instances.
if command -v pg_lsclusters >/dev/null 2>&1; then
  while read -r ver name _port status _rest; do
    if [[ "$status" == online* ]]; then
      "${SUDO[@]}" pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
fi
for svc in redis-server memcached swift-proxy swift-account swift-container swift-object; do
  "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
done

# Fail loudly if something is still missing.
still_missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
  echo "install-test-deps: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: done"
