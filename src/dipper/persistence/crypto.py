"""Encryption of personal data at rest, keyed blind indexes and keyed digests.

Ciphertexts are ``v1:<key id>:<base64(nonce || AES-256-GCM ciphertext+tag)>``; the key id
lets old rows be read after the active key rotates. A blind index is
HMAC-SHA256 of the *normalized* value under a separate key, so equality look-ups
work without decrypting and without a dictionary attack on low-entropy values
like resident IDs or phone numbers. The keyring is configured once, by the
composition root.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1"


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[str, bytes]
    active_key_id: str
    blind_index_key: bytes
    digest_key: bytes

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise ValueError(f"active key {self.active_key_id!r} is not in the keyring")
        for kid, key in self.keys.items():
            if len(key) != 32:
                raise ValueError(f"key {kid!r} must be 32 bytes (AES-256)")
            if ":" in kid:
                raise ValueError("key ids may not contain ':'")

    @classmethod
    def from_base64(
        cls, keys: Mapping[str, str], active: str, blind_index_key: str, digest_key: str
    ) -> Keyring:
        return cls(
            keys={k: base64.b64decode(v) for k, v in keys.items()},
            active_key_id=active,
            blind_index_key=base64.b64decode(blind_index_key),
            digest_key=base64.b64decode(digest_key),
        )


_keyring: Keyring | None = None


def configure(keyring: Keyring) -> None:
    global _keyring  # noqa: PLW0603 - one keyring per process, set by the composition root
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("the PII keyring is not configured (dipper.bootstrap sets it)")
    return _keyring


def encrypt(plaintext: str, *, associated: bytes = b"") -> str:
    ring = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(ring.keys[ring.active_key_id]).encrypt(nonce, plaintext.encode(), associated or None)
    return f"{_PREFIX}:{ring.active_key_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, associated: bytes = b"") -> str:
    prefix, kid, payload = token.split(":", 2)
    if prefix != _PREFIX:
        raise ValueError("unknown ciphertext version")
    key = keyring().keys.get(kid)
    if key is None:
        raise ValueError(f"no key {kid!r} in the keyring to read this value")
    raw = base64.b64decode(payload)
    return AESGCM(key).decrypt(raw[:12], raw[12:], associated or None).decode()


def key_id_of(token: str) -> str:
    return token.split(":", 2)[1]


def normalize(value: str) -> str:
    """Normalize before indexing: look-ups must not depend on spaces or letter case."""
    return "".join(value.split()).upper()


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed HMAC of a normalized value; ``purpose`` separates e.g. phone from resident ID."""
    msg = f"{purpose}\x00{normalize(value)}".encode()
    return hmac.new(keyring().blind_index_key, msg, hashlib.sha256).hexdigest()


def digest(data: Any) -> str:
    """Keyed digest of a JSON-able structure (for audit before/after), never reversible."""
    canonical = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(keyring().digest_key, canonical.encode(), hashlib.sha256).hexdigest()
