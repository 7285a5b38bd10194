"""Key rotation for encrypted columns: move ciphertexts written under older keys to the active key.

After a new key is added to the keyring and made active, old rows stay readable
(each ciphertext names its key); this job rewrites them so the old key can
eventually be retired. It works on raw ciphertext, in primary-key order, one
batch per transaction:

- it selects only rows with at least one column not under the active key, so a
  rerun after a crash resumes where it stopped and a finished table costs one scan;
- each row is updated only if its ciphertexts are still the ones read (an
  optimistic guard), so a concurrent write from the application is never
  overwritten with an older value; such a row is picked up by the next run;
- it crosses tenants (an installation-wide job) and writes no audit entries: the
  plain values do not change, only the key they are sealed with.

Blind indexes are keyed separately and are not touched.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, and_, bindparam, func, inspect, literal, or_, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from dipper.persistence import crypto
from dipper.persistence.types import EncryptedString


class RotationError(RuntimeError):
    """A stored value could not be re-encrypted; the rows before it are done (and committed)."""


def _active_prefix() -> str:
    # Taken from a fresh ciphertext so the layout has one source (crypto.encrypt): any value whose
    # "<version>:<key id>:" differs from it is stale.
    version, key_id, _ = crypto.encrypt("").split(":", 2)
    return f"{version}:{key_id}:"


def reencrypt(
    session: Session,
    model: type[Any],
    columns: list[str] | tuple[str, ...],
    batch_size: int = 1000,
    *,
    where: ColumnElement[bool] | None = None,
    commit: bool = True,
) -> int:
    """Re-encrypt ``columns`` of ``model`` under the active key; return how many rows were rewritten.

    ``where`` narrows the rows (e.g. one tenant). With ``commit`` (the default) every batch is
    committed, so progress survives a crash; otherwise the caller's transaction holds all changes.
    A value that cannot be decrypted (tampered, or its key is gone) stops the job, naming the row.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    table = inspect(model).local_table
    pks = list(table.primary_key.columns)
    if len(pks) != 1:
        raise ValueError(f"{table.name}: key rotation needs a single-column primary key")
    pk = pks[0]
    if not columns:
        return 0
    cols = [table.c[name] for name in columns]
    # type_coerce to Text reads and compares the stored ciphertext, bypassing EncryptedString.
    raw = {c.name: type_coerce(c, Text) for c in cols}
    prefix = _active_prefix()
    stale = or_(
        *(
            and_(raw[c.name].is_not(None), func.substr(raw[c.name], 1, len(prefix)) != literal(prefix, Text))
            for c in cols
        )
    )
    guarded_update = (
        update(table)
        .where(pk == bindparam("_pk"))
        .where(*(raw[c.name].is_not_distinct_from(bindparam(f"_old_{c.name}", type_=Text)) for c in cols))
        .values({c.name: bindparam(f"_new_{c.name}", type_=Text) for c in cols})
    )

    moved = 0
    last: Any = None
    while True:
        query = select(pk, *raw.values()).where(stale).order_by(pk).limit(batch_size)
        if where is not None:
            query = query.where(where)
        if last is not None:
            query = query.where(pk > last)
        rows = session.execute(query).all()
        if not rows:
            break
        params = []
        for row in rows:
            p: dict[str, Any] = {"_pk": row[0]}
            for c, token in zip(cols, row[1:], strict=True):
                p[f"_old_{c.name}"] = token
                try:
                    p[f"_new_{c.name}"] = _rotate(token, prefix, _associated(c))
                except Exception as exc:
                    location = f"{table.name}.{c.name} of row {row[0]!r}"
                    raise RotationError(f"{location} cannot be decrypted") from exc
            params.append(p)
        result = session.connection().execute(guarded_update, params)
        moved += result.rowcount if result.rowcount >= 0 else len(params)
        last = rows[-1][0]
        if commit:
            session.commit()
        if len(rows) < batch_size:
            break
    return moved


def _associated(column: Any) -> bytes:
    return column.type.associated if isinstance(column.type, EncryptedString) else b""


def _rotate(token: str | None, prefix: str, associated: bytes) -> str | None:
    if token is None or token.startswith(prefix):
        return token
    return crypto.encrypt(crypto.decrypt(token, associated=associated), associated=associated)
