"""Bearer-key authentication for HTTP APIs that move money or reveal personal data.

Used by the bridge's session API (`/pci/v1`, keys from `PCI_API_KEYS`) and the demo billing
service (`/demo/billing`, `BILLING_TOKEN`). Deny by default: every request under the guarded
prefix needs `Authorization: Bearer KEY` with a key from the current set, except the paths
named public (the OpenAPI document). A guard with no keys refuses everything. Keys are
compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request

log = logging.getLogger("pci_bridge.auth")

# A key is printable ASCII without spaces or commas (a comma separates keys in PCI_API_KEYS).


class KeyProblem(ValueError):
    """A configured key is too short, too long or not printable ASCII. The message names the
    setting and the key's position, never the key."""


MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 256


def new_key() -> str:
    """A random key for a process that has none configured (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def parse_keys(raw: str | Iterable[str] | None, where: str) -> tuple[str, ...]:
    """Keys from a comma-separated string (`PCI_API_KEYS`) or a list, checked.

    Raises KeyProblem naming `where` and the key's position (never the key itself)."""
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else [str(k) for k in raw]
    keys = []
    for position, item in enumerate(items, start=1):
        key = item.strip()
        if not key:
            continue
        if not (MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH):
            raise KeyProblem(
                f"{where}: key {position} has {len(key)} characters; a key needs "
                f"{MIN_KEY_LENGTH} to {MAX_KEY_LENGTH}"
            )
        if not all(33 <= ord(c) <= 126 for c in key):
            raise KeyProblem(
                f"{where}: key {position} has a space or a character that is not printable ASCII"
            )
        keys.append(key)
    return tuple(dict.fromkeys(keys))


def presented_key(header: str | None) -> str | None:
    """The key of an `Authorization: Bearer KEY` header, or None when it is missing, of
    another scheme (Basic, ...) or malformed."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key or len(key) > MAX_KEY_LENGTH:
        return None
    return key


def key_matches(presented: str, keys: Iterable[str]) -> bool:
    """True when `presented` is one of `keys`; every key is compared, in constant time."""
    given = presented.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


@dataclass(frozen=True)
class BearerGuard:
    """Guards every path under `prefix` (and the prefix itself) except `public` ones."""

    prefix: str
    realm: str
    keys: Callable[[], tuple[str, ...]]
    public: frozenset[str] = frozenset()

    def guards(self, path: str) -> bool:
        inside = path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")
        return inside and path not in self.public

    def check(self) -> Response | None:
        """A Flask before_request hook: None to go on, else the 401 answer."""
        if not self.guards(request.path):
            return None
        key = presented_key(request.headers.get("Authorization"))
        if key is not None and key_matches(key, self.keys()):
            return None
        reason = (
            "missing"
            if "Authorization" not in request.headers
            else ("malformed or not Bearer" if key is None else "unknown")
        )
        log.warning("401 %s %s: %s API key", request.method, request.path, reason)
        response = jsonify(
            {
                "error": f"401 Unauthorized: a valid API key is required "
                f"(Authorization: Bearer KEY); the key was {reason}"
            }
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = f'Bearer realm="{self.realm}"'
        return response

    def install(self, app: Flask) -> None:
        """Run before every request of `app`, so an unknown path under the prefix is 401 too
        (a blueprint's own hook would not run for it)."""
        app.before_request(self.check)


def resolve(environ: Mapping[str, str], secrets_: Mapping[str, str], name: str) -> str | None:
    """A setting from the environment, else the config file's secrets."""
    value = environ.get(name) or secrets_.get(name)
    return value or None
