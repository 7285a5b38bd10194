"""An encrypted value is bound to its table and column."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from dipper.persistence import crypto
from dipper.persistence.types import EncryptedString


@pytest.fixture(autouse=True)
def _keyring():
    key = base64.b64encode(b"k" * 32).decode()
    crypto.configure(crypto.Keyring.from_base64({"t1": key}, "t1", key, key))


def test_a_ciphertext_moved_to_another_column_does_not_decrypt():
    id_column, name_column = EncryptedString("t.id_number"), EncryptedString("t.name")
    stored = id_column.process_bind_param("11010519491231002X", None)  # type: ignore[arg-type]
    assert stored is not None and "11010519491231002X" not in stored
    assert id_column.process_result_value(stored, None) == "11010519491231002X"  # type: ignore[arg-type]
    with pytest.raises(InvalidTag):
        name_column.process_result_value(stored, None)  # type: ignore[arg-type]


def test_an_encrypted_column_needs_a_context():
    with pytest.raises(ValueError, match="context"):
        EncryptedString("")
