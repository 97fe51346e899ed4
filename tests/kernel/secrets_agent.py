"""A secrets agent speaking nodebase's NODEBASE_SECRETS_COMMAND protocol (docs/secrets.md),
as a TEE/KMS agent would: ``get NAME`` prints the value (exit 3: unknown), ``put NAME`` stores
stdin. Its store is the JSON file named by SECRETS_AGENT_STORE; every call is appended to
SECRETS_AGENT_CALLS (verb and name only)."""

import json
import os
import sys
from pathlib import Path

store = Path(os.environ["SECRETS_AGENT_STORE"])
verb, name = sys.argv[1], sys.argv[2]
with Path(os.environ["SECRETS_AGENT_CALLS"]).open("a") as calls:
    calls.write(f"{verb} {name}\n")
data = json.loads(store.read_text()) if store.exists() else {}
if verb == "get":
    if name not in data:
        sys.exit(3)
    sys.stdout.buffer.write(bytes.fromhex(data[name]))
elif verb == "put":
    data[name] = sys.stdin.buffer.read().hex()
    tmp = store.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(store)
else:
    sys.exit(2)
