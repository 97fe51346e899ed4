#!/usr/bin/env bash
# Regenerate the chat's gRPC code from src/nodebase/apps/chat/rpc/chat.proto (a copy of
# shared/protocols/chat.proto). Needs grpcio-tools (in the dev extra). -I src makes the
# generated code import nodebase.apps.chat.rpc.chat_pb2 (not a top-level chat_pb2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m grpc_tools.protoc -I src --python_out=src --pyi_out=src --grpc_python_out=src \
  src/nodebase/apps/chat/rpc/chat.proto
