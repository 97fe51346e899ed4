#!/usr/bin/env bash
# Build the desktop sidecar: one executable file, dist/nodebase-sidecar (see docs/sidecar.md).
#
# PyInstaller --onefile from the project's .venv (created if missing, with the `sidecar`
# extra). The sidecar is the embedded profile (SQLite, local files, in-process broker): the
# scaled profile's drivers (asyncpg, boto3, redis) and granian are left out to keep it small,
# and so is the `knowledge` extra (numpy, WordLlama, trafilatura, pypdf): the sidecar's Knowledge
# module searches by keywords and answers extractively (docs/sidecar.md). The chat's gRPC
# listener (grpcio) is left out too; its HTTP and WebSocket interfaces are in.
# With NODEBASE_SIDECAR_KNOWLEDGE=1 the `knowledge` extra goes in as well (numpy, the WordLlama
# embedding model, trafilatura, pypdf): dense and hybrid search and URL/PDF ingestion in the
# sidecar, at the size docs/sidecar.md states; that build is not stripped (--strip breaks numpy's
# bundled OpenBLAS).
# Usage: [NODEBASE_SIDECAR_KNOWLEDGE=1] bash scripts/build-sidecar.sh [output dir, default dist]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
# an existing venv with PyInstaller (the test venv has it) is used as it is: re-installing the
# project into a venv whose tests are running could disturb them
if ! { [ -x .venv/bin/python ] && .venv/bin/python -c "import PyInstaller" 2>/dev/null; }; then
  bash scripts/bootstrap-venv.sh sidecar
fi
work="$(mktemp -d)"
# swagger-ui-py ships 25 MB of Swagger editor bundles; the API page needs five files
static="$(.venv/bin/python -c 'import importlib.util,pathlib;print(pathlib.Path(importlib.util.find_spec("swagger_ui").submodule_search_locations[0])/"static")')"
assets=()
for f in swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js favicon-16x16.png favicon-32x32.png; do
  assets+=(--add-data "$static/$f:swagger_ui/static")
done
knowledge=(--exclude-module numpy --exclude-module scipy --exclude-module wordllama
           --exclude-module trafilatura --exclude-module lxml --exclude-module pypdf)
strip=(--strip)
if [ "${NODEBASE_SIDECAR_KNOWLEDGE:-0}" = 1 ]; then
  .venv/bin/python -c "import numpy, wordllama, trafilatura, pypdf" || {
    echo "NODEBASE_SIDECAR_KNOWLEDGE=1 needs the knowledge extra in .venv: .venv/bin/pip install -e '.[knowledge,sidecar]'" >&2; exit 2; }
  knowledge=(--exclude-module scipy --collect-data wordllama --collect-data trafilatura
             --collect-data justext --collect-submodules trafilatura)
  strip=()
fi
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN --onefile "${strip[@]}" \
  --name nodebase-sidecar --distpath "$out" --workpath "$work/build" --specpath "$work" \
  --collect-submodules nodebase --collect-data nodebase \
  --collect-submodules uvicorn --collect-submodules webauthn \
  "${assets[@]}" \
  --exclude-module boto3 --exclude-module botocore --exclude-module s3transfer \
  --exclude-module asyncpg --exclude-module granian --exclude-module redis \
  --exclude-module sqlalchemy.dialects.mysql --exclude-module sqlalchemy.dialects.mssql \
  --exclude-module sqlalchemy.dialects.oracle --exclude-module sqlalchemy.testing \
  --exclude-module greenlet --exclude-module sqlalchemy.ext.asyncio --exclude-module yaml \
  "${knowledge[@]}" \
  --exclude-module qdrant_client --exclude-module grpc --exclude-module grpc_tools \
  --exclude-module pgserver --exclude-module reportlab --exclude-module schemathesis \
  --exclude-module readline --exclude-module tkinter --exclude-module pytest --exclude-module mypy \
  --exclude-module rich --exclude-module pygments \
  src/nodebase/sidecar.py
ls -l "$out/nodebase-sidecar"
