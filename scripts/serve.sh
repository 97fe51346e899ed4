#!/usr/bin/env bash
# Install nodebase and serve it on the embedded default (SQLite + local files in ./nodebase_data,
# http://127.0.0.1:1337). Extra arguments go to `nodebase serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap-venv.sh
exec .venv/bin/nodebase serve "$@"
