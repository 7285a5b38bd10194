"""A model directory as one deterministic zip: what the registry stores, and how it is read back.

The zip holds ``manifest.json`` and exactly the artifacts the manifest lists, in sorted order, with a
fixed timestamp and mode, so the same directory always gives the same bytes. Reading it back never
touches the file system: every artifact's sha256 and the manifest's ``content_hash`` are checked in
memory (``model_tampered`` otherwise) before ``model.json`` is compiled into a runtime.

Uploads are untrusted: a bad zip, an absolute or ``..`` path, too many files or too many bytes once
inflated are refused with ``invalid_model_archive`` before anything is read into the database.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Final

from dipper.risk.domain.errors import (
    INVALID_MODEL,
    MODEL_NOT_FOUND,
    MODEL_TAMPERED,
    NotFound,
    ValidationFailed,
)

__all__ = [
    "INVALID_MODEL_ARCHIVE",
    "MAX_ARCHIVE_BYTES",
    "ModelArchive",
    "pack_directory",
    "read_archive",
    "runtime_from_archive",
]

INVALID_MODEL_ARCHIVE: Final = "invalid_model_archive"
MANIFEST: Final = "manifest.json"
MODEL: Final = "model.json"
MANIFEST_FORMAT: Final = "dipper.risk.model/1"
#: An upload larger than this is refused before it is read (a model directory is a few MB at most).
MAX_ARCHIVE_BYTES: Final = 64 * 1024 * 1024
_MAX_INFLATED_BYTES: Final = 256 * 1024 * 1024
_MAX_FILES: Final = 500
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


def _bad(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"not a model archive: {reason}", code=INVALID_MODEL_ARCHIVE, details={"reason": reason}
    )


def _content_hash(artifacts: Mapping[str, str]) -> str:
    # The same rule as ``artifacts.content_hash`` (kept here so reading needs no scikit-learn import).
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(artifacts.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def _zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def pack_directory(directory: Path) -> bytes:
    """Zip a model directory: its manifest and the artifacts it lists (verified first)."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise NotFound(
            f"no model at {directory} (no {MANIFEST})", code=MODEL_NOT_FOUND, details={"path": str(directory)}
        )
    files = {MANIFEST: manifest_path.read_bytes()}
    manifest = _parse_manifest(files[MANIFEST])
    for name in manifest["artifacts"]:
        path = directory / name
        if not path.is_file():
            raise ValidationFailed(
                f"the model at {directory} does not match its manifest ({name} is missing)",
                code=MODEL_TAMPERED,
                details={"changed": [name]},
            )
        files[name] = path.read_bytes()
    archive = ModelArchive(files, manifest)
    archive.verify()
    return archive.to_bytes()


def _parse_manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{MANIFEST} is not valid JSON: {exc}", code=INVALID_MODEL) from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValidationFailed(f"{MANIFEST} is not a {MANIFEST_FORMAT} manifest", code=INVALID_MODEL)
    artifacts = manifest.get("artifacts")
    if (
        not isinstance(artifacts, dict)
        or MODEL not in artifacts
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in artifacts.items())
    ):
        raise ValidationFailed(f"{MANIFEST} lists no artifacts or no {MODEL}", code=INVALID_MODEL)
    for name in artifacts:
        _check_name(name)
    return manifest


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or name.startswith("/"):
        raise _bad(f"unsafe path {name[:100]!r}")


class ModelArchive:
    """The files of one model directory, in memory, with its parsed manifest."""

    __slots__ = ("files", "manifest")

    def __init__(self, files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> None:
        self.files = dict(files)
        self.manifest = dict(manifest)

    @property
    def content_hash(self) -> str:
        return str(self.manifest.get("content_hash", ""))

    def verify(self, expected_hash: str | None = None) -> None:
        """Every artifact has the digest its manifest records, and the hashes agree (``model_tampered``)."""
        artifacts: Mapping[str, str] = self.manifest["artifacts"]
        changed = sorted(
            name
            for name, digest in artifacts.items()
            if name not in self.files or hashlib.sha256(self.files[name]).hexdigest() != digest
        )
        computed = _content_hash(artifacts)
        if changed or computed != self.manifest.get("content_hash"):
            raise ValidationFailed(
                "the model's files do not match its manifest"
                + (f" ({', '.join(changed[:5])} changed)" if changed else ""),
                code=MODEL_TAMPERED,
                details={"changed": changed},
            )
        if expected_hash is not None and computed != expected_hash:
            raise ValidationFailed(
                f"the stored model is not the one registered (content hash {computed}, "
                f"expected {expected_hash})",
                code=MODEL_TAMPERED,
                details={"content_hash": computed, "expected": expected_hash},
            )

    def to_bytes(self) -> bytes:
        """The deterministic zip of the manifest and the artifacts it lists (nothing else)."""
        names = [MANIFEST, *self.manifest["artifacts"]]
        return _zip({name: self.files[name] for name in names})


def read_archive(data: bytes) -> ModelArchive:
    """Parse an uploaded or stored zip (untrusted) into a :class:`ModelArchive`, unverified."""
    if not isinstance(data, bytes | bytearray | memoryview) or not data:
        raise _bad("empty upload")
    if len(data) > MAX_ARCHIVE_BYTES:
        raise _bad(f"larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _bad("not a zip file") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > _MAX_FILES:
            raise _bad(f"more than {_MAX_FILES} files")
        if sum(i.file_size for i in infos) > _MAX_INFLATED_BYTES:
            raise _bad("too large once inflated")
        # A zip made by zipping the directory itself has one top folder: strip it.
        names = [i.filename for i in infos]
        for name in names:
            _check_name(name)
        prefix = ""
        if MANIFEST not in names:
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and f"{next(iter(tops))}/{MANIFEST}" in names:
                prefix = next(iter(tops)) + "/"
            else:
                raise NotFound(f"the archive holds no {MANIFEST}", code=MODEL_NOT_FOUND)
        files: dict[str, bytes] = {}
        inflated = 0
        for info in infos:
            name = info.filename[len(prefix) :] if prefix else info.filename
            _check_name(name)
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError):
                raise _bad(f"cannot read {name[:100]!r}") from None
            inflated += len(content)
            if inflated > _MAX_INFLATED_BYTES:
                raise _bad("too large once inflated")
            files[name] = content
    return ModelArchive(files, _parse_manifest(files[MANIFEST]))


def runtime_from_archive(archive: ModelArchive, expected_hash: str | None = None) -> Any:
    """Verify the archive and compile its ``model.json`` into a runtime (``PointsTable`` or ``TreeEnsemble``).

    The runtime classes live beside scikit-learn, so they are imported here, on the first load, and
    never at boot."""
    archive.verify(expected_hash)
    from dipper.risk.domain.gbdt import TreeEnsemble
    from dipper.risk.domain.scorecard import PointsTable

    try:
        data = json.loads(archive.files[MODEL].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{MODEL} is not valid JSON: {exc}", code=INVALID_MODEL) from None
    kind = data.get("kind") if isinstance(data, dict) else None
    try:
        if kind == PointsTable.kind:
            return PointsTable.from_json(data)
        if kind == TreeEnsemble.kind:
            return TreeEnsemble.from_json(data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValidationFailed(f"{MODEL} cannot be read: {exc}", code=INVALID_MODEL) from None
    raise ValidationFailed(f"unknown model kind {kind!r}", code=INVALID_MODEL)
