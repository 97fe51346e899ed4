"""Where every secret nodebase holds comes from: one small provider interface.

A secret has a name (``auth_signing_key``, ``media_signing_key``, ``database_url``, …) and a
value (bytes). :class:`Secrets` asks, in order:

1. the environment: ``NODEBASE_SECRET_<NAME>`` (read only; ``NODEBASE_AUTH_SECRET`` is kept as
   the older spelling of ``NODEBASE_SECRET_AUTH_SIGNING_KEY``);
2. the *store*: an external command when ``NODEBASE_SECRETS_COMMAND`` is set (a TEE or KMS
   agent), else files in the data dir (the default).

Secrets nodebase makes itself (signing keys) are generated on first use and written to the
store; a secret set in the environment is never written anywhere.

External command protocol (docs/secrets.md): the command line is split like a shell would
(no shell runs) and called with two more arguments:

* ``get NAME`` → exit 0 and the value on stdout (one trailing newline is dropped);
  exit 3 → "no such secret"; anything else → an error (nodebase refuses to start).
* ``put NAME`` with the value on stdin → exit 0 once stored.

The command's stderr is never logged (it might echo a value); only the exit status is.
"""

from __future__ import annotations

import os
import secrets as _random
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nodebase.kernel.config import Settings

AUTH_SIGNING_KEY = "auth_signing_key"
MEDIA_SIGNING_KEY = "media_signing_key"
#: rotation keeps the key before the current one here, so tokens it signed stay valid
PREVIOUS_SUFFIX = "_previous"
COMMAND_ENV = "NODEBASE_SECRETS_COMMAND"
ENV_PREFIX = "NODEBASE_SECRET_"
#: settings holding credentials: when empty, the provider is asked for a secret of that name
SECRET_SETTINGS = ("database_url", "storage_url", "broker_url", "vector_url",
                   "embedding_api_key", "llm_api_key")
#: the file names the data dir used before this module existed
_LEGACY_FILES = {AUTH_SIGNING_KEY: "auth_secret", MEDIA_SIGNING_KEY: ".media-signing.key"}
_LEGACY_ENV = {AUTH_SIGNING_KEY: "NODEBASE_AUTH_SECRET"}
NOT_FOUND_EXIT = 3
MIN_KEY_BYTES = 32


class SecretError(RuntimeError):
    """A secret could not be read or stored; the message never holds a value."""


class SecretStore(Protocol):
    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, value: bytes) -> None: ...


def _check_name(name: str) -> str:
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise SecretError(f"invalid secret name {name!r} (letters, digits and _ only)")
    return name


class EnvSecrets:
    """``NODEBASE_SECRET_<NAME>`` variables (read only)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str) -> bytes | None:
        value = self.env.get(ENV_PREFIX + _check_name(name).upper())
        if not value and name in _LEGACY_ENV:
            value = self.env.get(_LEGACY_ENV[name])
        return value.encode() if value else None


class FileSecrets:
    """One file per secret in the data dir (mode 0600): ``<data_dir>/secrets/<name>``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def path(self, name: str) -> Path:
        legacy = _LEGACY_FILES.get(_check_name(name))
        return self.data_dir / legacy if legacy else self.data_dir / "secrets" / name

    def get(self, name: str) -> bytes | None:
        path = self.path(name)
        try:
            value = path.read_bytes()
        except FileNotFoundError:
            return None
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        # text secrets end with a newline when written by hand; binary keys are kept whole
        return value.rstrip(b"\r\n") if value.endswith(b"\n") else value

    def put(self, name: str, value: bytes) -> None:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, value)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def create(self, name: str, value: bytes) -> bytes:
        """Write ``value`` unless another process already did; return the stored value."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            current = self.get(name)
            if current is not None and len(current) >= MIN_KEY_BYTES:
                return current
            self.put(name, value)  # a torn write by a crashed process: replace it
            return value
        try:
            os.write(fd, value)
        finally:
            os.close(fd)
        return value


class CommandSecrets:
    """An external agent (``NODEBASE_SECRETS_COMMAND``) speaking the get/put protocol."""

    def __init__(self, command: str, timeout: float = 30.0) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise SecretError(f"{COMMAND_ENV} is empty")
        self.timeout = timeout

    def _run(self, verb: str, name: str, value: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run([*self.argv, verb, _check_name(name)], input=value or b"",
                                  capture_output=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SecretError(f"the secrets command failed to run for {verb} {name}: "
                              f"{type(exc).__name__}") from None

    def get(self, name: str) -> bytes | None:
        done = self._run("get", name)
        if done.returncode == NOT_FOUND_EXIT:
            return None
        if done.returncode != 0:
            raise SecretError(f"the secrets command exited {done.returncode} for get {name}")
        out = done.stdout
        return out[:-1] if out.endswith(b"\n") else out

    def put(self, name: str, value: bytes) -> None:
        done = self._run("put", name, value)
        if done.returncode != 0:
            raise SecretError(f"the secrets command exited {done.returncode} for put {name}")


class Secrets:
    """The node's secret provider: the environment first, then the store."""

    def __init__(self, store: SecretStore, env: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.env = EnvSecrets(os.environ if env is None else env)
        #: every value handed out, so tests and log filters can look for them
        self._seen: set[bytes] = set()

    @property
    def kind(self) -> str:
        return "command" if isinstance(self.store, CommandSecrets) else "file"

    def get(self, name: str) -> bytes | None:
        value = self.env.get(name)
        if value is None:
            value = self.store.get(name)
        if value:
            self._seen.add(value)
        return value or None

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return value.decode() if value is not None else None

    def put(self, name: str, value: bytes) -> None:
        """Store a secret an operator gave (e.g. an OAuth client secret sent through the config
        API). One set in the environment cannot be replaced from here."""
        if self.env.get(name) is not None:
            raise SecretError(f"{name} is set in the environment ({ENV_PREFIX}{name.upper()}): change it there")
        self.store.put(name, value)
        self._seen.add(value)

    def key(self, name: str, generate: Callable[[], bytes] | None = None) -> bytes:
        """A signing key: read it, or generate and store it once (≥ 32 bytes)."""
        value = self.get(name)
        if value is None:
            new = (generate or _new_key)()
            value = self.store.create(name, new) if isinstance(self.store, FileSecrets) else self._put_new(name, new)
            self._seen.add(value)
        if len(value) < MIN_KEY_BYTES:
            raise SecretError(f"the secret {name} is shorter than {MIN_KEY_BYTES} bytes "
                              f"(set a longer one, or remove it from the {self.kind} store to regenerate it)")
        return value

    def _put_new(self, name: str, value: bytes) -> bytes:
        self.store.put(name, value)
        return self.store.get(name) or value  # another node may have stored first: theirs wins

    def previous(self, name: str) -> list[bytes]:
        """The keys retired by rotation that still verify (at most one)."""
        value = self.get(name + PREVIOUS_SUFFIX)
        return [value] if value else []

    def rotate(self, name: str, generate: Callable[[], bytes] | None = None) -> None:
        """Make a new key current; the current one becomes the previous one."""
        if self.env.get(name) is not None:
            raise SecretError(f"{name} is set in the environment: rotate it there "
                              f"(set {ENV_PREFIX}{name.upper()}{PREVIOUS_SUFFIX.upper()} to the old value)")
        current = self.key(name, generate)
        self.store.put(name + PREVIOUS_SUFFIX, current)
        self.store.put(name, (generate or _new_key)())

    def fill_settings(self, settings: Settings) -> Settings:
        """``settings`` with each empty credential setting taken from the provider."""
        have = {f.name for f in fields(settings)}
        changes: dict[str, Any] = {}
        for name in SECRET_SETTINGS:
            if name in have and not getattr(settings, name):
                value = self.text(name)
                if value:
                    changes[name] = value
        for name in SECRET_SETTINGS:
            value = getattr(settings, name, "")
            if value:
                self._seen.add(value.encode())
        return replace(settings, **changes) if changes else settings

    def values(self) -> list[bytes]:
        """Every secret value this provider handed out (for leak checks)."""
        return sorted(self._seen)


def _new_key() -> bytes:
    return _random.token_hex(32).encode()


def new_binary_key() -> bytes:
    return _random.token_bytes(32)


def open_secrets(data_dir: Path, env: Mapping[str, str] | None = None) -> Secrets:
    """The provider for a node: the command in ``NODEBASE_SECRETS_COMMAND``, else files."""
    env = os.environ if env is None else env
    command = env.get(COMMAND_ENV, "").strip()
    store: SecretStore = CommandSecrets(command) if command else FileSecrets(data_dir)
    return Secrets(store, env)
