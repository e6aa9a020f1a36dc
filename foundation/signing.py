"""HMAC-SHA256 signatures of webhook bodies (`X-PCI-Signature: sha256=HEX`)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-PCI-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers: True when `header` is the signature of `body` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), str(header).encode("utf-8", "replace"))
