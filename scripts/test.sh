#!/usr/bin/env bash
# Install everything (Python deps, the real test servers: PostgreSQL, Redis, Swift S3,
# Chromium, wrk; Node packages) and run the whole test suite with lint and type checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO bash scripts/install-test-deps.sh
bash scripts/bootstrap-venv.sh dev
if [ -f tests/node/package.json ]; then
  (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
fi
echo "== ruff"
.venv/bin/ruff check src tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=20 "$@"
