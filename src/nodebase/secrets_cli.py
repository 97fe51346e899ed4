"""``nodebase secrets rotate NAME``: a new signing key; the previous one still verifies."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from nodebase.kernel.secrets import (
    AUTH_SIGNING_KEY,
    MEDIA_SIGNING_KEY,
    SecretError,
    new_binary_key,
    open_secrets,
)

#: the keys nodebase generates itself, and how a new one is made
ROTATABLE: dict[str, Callable[[], bytes] | None] = {AUTH_SIGNING_KEY: None, MEDIA_SIGNING_KEY: new_binary_key}


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None],
                 settings_of: Callable[..., Any]) -> None:
    p = sub.add_parser("secrets", help="the node's secrets (see docs/secrets.md)")
    p.set_defaults(fn=None, help_of=p)
    ssub = p.add_subparsers(dest="secrets_command", metavar="COMMAND")
    rot = ssub.add_parser("rotate", help="make a new signing key; the previous one keeps verifying "
                                         "until the next rotation (restart the nodes to use it)")
    common(rot)
    rot.add_argument("name", choices=sorted(ROTATABLE))

    def run(args: argparse.Namespace) -> int:
        settings = settings_of(args)
        try:
            open_secrets(settings.resolved_data_dir).rotate(args.name, ROTATABLE[args.name])
        except SecretError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
        sys.stdout.write(f"rotated {args.name}: restart every node to sign with the new key\n")
        return 0

    rot.set_defaults(fn=run)
