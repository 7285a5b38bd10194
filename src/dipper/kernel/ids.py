"""Typed, time-ordered identifiers.

Ids are ULID-style strings (48-bit millisecond time + 80 random bits, Crockford
base32) so that B-tree indexes stay append-mostly and ids sort by creation.
``NewType`` keeps a tenant id from being passed where a user id is expected.
"""

from __future__ import annotations

import os
import time
from typing import NewType

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

TenantId = NewType("TenantId", str)
UserId = NewType("UserId", str)
ApiKeyId = NewType("ApiKeyId", str)
AccountId = NewType("AccountId", str)
EntryId = NewType("EntryId", str)
CustomerId = NewType("CustomerId", str)
ChangeRequestId = NewType("ChangeRequestId", str)


def new_ulid() -> str:
    """A 26-character, lexicographically time-ordered id."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    return new_ulid()
