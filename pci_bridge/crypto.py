"""Card data between prompts is kept only encrypted (AES-256-GCM), with a short TTL."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pci_bridge.errors import PciBridgeError


class CardBox:
    """Seals and opens short-lived card fields. The key comes from PCI_DATA_KEY (base64 of 32
    bytes) or is generated for this process (then only this process can open what it sealed,
    which is fine for the embedded single-process default)."""

    def __init__(self, key: bytes | None = None):
        if key is None:
            env = os.environ.get("PCI_DATA_KEY")
            if env:
                try:
                    key = base64.b64decode(env, validate=True)
                except ValueError:
                    raise PciBridgeError("PCI_DATA_KEY is not valid base64") from None
            else:
                key = AESGCM.generate_key(bit_length=256)
        if len(key) != 32:
            raise PciBridgeError("PCI_DATA_KEY must be 32 bytes (base64 encoded)")
        self._aead = AESGCM(key)

    def seal(self, plain: str, context: str) -> str:
        """Encrypt `plain`, bound to `context` (the session and field) so it cannot be moved."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode(), context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, context: str) -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
